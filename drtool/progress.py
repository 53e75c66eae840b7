"""Progress bars for long work (upload, fetch, check --read-data, drill), drawn by rich on
stderr when it is a terminal, and nowhere else: off a terminal, under ``--json`` and with
``--log-format json`` nothing is drawn, so cron mail, journald and pipes stay clean.

The library only calls :func:`advance` (bytes uploaded or fetched, objects verified); the CLI
decides whether a bar shows by opening a :func:`task`. rich is imported only when a bar shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

BYTES, ITEMS = "bytes", "items"


@dataclass
class _Task:
    unit: str
    identifier: Any


class _Bars:
    enabled = False
    label: str | None = None  # the bytes bar a command opens on its first byte
    progress: Any = None
    tasks: list[_Task] = []  # noqa: RUF012 - one process, one set of bars


def configure(enabled: bool, label: str | None = None) -> None:
    """Whether bars may be drawn (the CLI: stderr is a terminal, output is for people), and
    the description of the bytes bar that opens on the first byte moved."""
    _Bars.enabled, _Bars.label = enabled, label


def disable() -> None:
    """No bars after all (``--json``: the output is for a program)."""
    close()
    _Bars.enabled = False


@contextmanager
def task(description: str, total: float | None = None, unit: str = BYTES) -> Iterator[None]:
    """Show a bar for the work inside the ``with`` (a no-op where bars are off)."""
    if not _Bars.enabled:
        yield
        return
    shown = _open(description, total, unit)
    try:
        yield
    finally:
        _Bars.tasks.remove(shown)
        _Bars.progress.remove_task(shown.identifier)


def advance(amount: float, unit: str = BYTES) -> None:
    """Count ``amount`` of work done toward the innermost bar of ``unit``, if one shows."""
    for shown in reversed(_Bars.tasks):
        if shown.unit == unit:
            _Bars.progress.advance(shown.identifier, amount)
            return
    if _Bars.enabled and unit == BYTES and _Bars.label:
        _Bars.progress.advance(_open(_Bars.label, None, BYTES).identifier, amount)


def close() -> None:
    """Take every bar off the terminal (the command ended)."""
    if _Bars.progress is not None:
        _Bars.progress.stop()
    _Bars.progress, _Bars.tasks = None, []


def _open(description: str, total: float | None, unit: str) -> _Task:
    if _Bars.progress is None:
        _Bars.progress = _new_progress()
        _Bars.progress.start()
    shown = _Task(unit, _Bars.progress.add_task(description, total=total, unit=unit))
    _Bars.tasks.append(shown)
    return shown


def _new_progress() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    class Amount(ProgressColumn):
        """Bytes as bytes (with a speed), objects as "n/m"."""

        def render(self, item: Any) -> Any:
            if item.fields.get("unit") == BYTES:
                return f"{DownloadColumn().render(item)} {TransferSpeedColumn().render(item)}"
            return MofNCompleteColumn().render(item)

    return Progress(
        TextColumn("drtool: {task.description}"),
        BarColumn(),
        Amount(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
