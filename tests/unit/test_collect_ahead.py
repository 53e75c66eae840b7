"""drtool/collect_ahead.py: a backup's collectors run together, their artifacts handed over in
the collectors' order, a collector's error raised in its turn, every thread joined."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from drtool.collect_ahead import collecting
from drtool.collectors import Artifact, Collector
from drtool.errors import CollectError
from drtool.host import Host


class Waiting(Collector):
    """A kind that waits ``seconds`` (as a command would) before it is read, or, given
    ``until``, until another kind has been read (which only collectors run together allow)."""

    def __init__(
        self, kind: str, seconds: float = 0.0, fails: bool = False, until: Waiting | None = None
    ) -> None:
        self.kind, self.seconds, self.fails, self.until = kind, seconds, fails, until
        self.finished = threading.Event()

    def collect(self, host: Host) -> Artifact:
        time.sleep(self.seconds)
        if self.until is not None and not self.until.finished.wait(timeout=30):
            raise CollectError(f"{self.kind}: {self.until.kind} was never read beside it")
        self.finished.set()
        if self.fails:
            raise CollectError(f"{self.kind}: cannot read")
        return Artifact(self.kind, (), ())


def test_artifacts_come_in_order_though_read_together(tmp_path: Path) -> None:
    last = Waiting("last")
    collectors = [Waiting("first", until=last), Waiting("fast"), last]
    with collecting(collectors, Host(tmp_path, "h")) as artifacts:
        kinds = [artifact.kind for _, artifact in artifacts]
    assert kinds == ["first", "fast", "last"]


def test_an_error_is_raised_in_its_turn_once_every_thread_is_done(tmp_path: Path) -> None:
    collectors = [Waiting("first"), Waiting("broken", fails=True), Waiting("late", 0.3)]
    handed = []
    with (
        pytest.raises(CollectError, match="broken: cannot read"),
        collecting(collectors, Host(tmp_path, "h")) as artifacts,
    ):
        handed.extend(artifact.kind for _, artifact in artifacts)
    assert handed == ["first"]
    assert collectors[2].finished.is_set()  # joined: nothing left running behind the error
