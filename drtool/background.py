"""A function run on a thread of its own, its value or error handed to whoever waits for it.

What drtool runs beside its own work: a backup's collectors (drtool.collect_ahead), the two
families' iptables-save (each a process of its own: the two take two cores).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(threading.Thread, Generic[T]):
    """``function()`` started at once; ``result()`` waits for it and returns its value, or
    raises its error in the caller's thread. The value is handed over, not kept: a backup's
    tree listing (200,000 entries on a large host) goes once its kind is stored."""

    def __init__(self, function: Callable[[], T], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._function = function
        self._value: T | None = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._value = self._function()
        except BaseException as error:  # raised in the caller's thread, by result()
            self._error = error

    def result(self) -> T:
        self.join()
        if self._error is not None:
            raise self._error
        value, self._value = self._value, None
        return value  # type: ignore[return-value]
