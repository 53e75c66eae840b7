"""Processes found by their exact command line, never by a pattern over the whole machine: other
test runs (other worktrees) run the same programs at the same time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def command_lines() -> Iterator[tuple[int, list[str]]]:
    """Every process's pid and arguments."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = entry.joinpath("cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            yield int(entry.name), [a.decode(errors="replace") for a in cmdline.split(b"\0")]


def processes_running(*argv: str, then_under: Path | None = None) -> list[int]:
    """The pids whose command line holds ``argv`` as consecutive arguments (followed by a path
    under ``then_under``, when given)."""
    wanted, found = list(argv), []
    for pid, arguments in command_lines():
        for i in range(len(arguments)):
            if arguments[i : i + len(wanted)] != wanted:
                continue
            following = arguments[i + len(wanted) : i + len(wanted) + 1]
            if then_under is None or (following and following[0].startswith(f"{then_under}/")):
                found.append(pid)
                break
    return found
