"""What the lock tests share: a stopped clock, a clock moved by hand, the exclusive lock's holder
as stored, and a bounded wait for what a heartbeat thread does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from drtool.lock import LOCK_NAME
from drtool.store import Store

NOON = datetime(2025, 1, 7, 12, 0, tzinfo=UTC)


def at(moment: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``moment``."""
    return lambda: moment


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def holder(store: Store, name: str = LOCK_NAME) -> dict:
    return json.loads(store.get(name))


def wait_for(condition: Callable[[], object]) -> None:
    """Poll ``condition`` until it holds (a generous bound for a loaded machine: not a timing
    assertion)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)
