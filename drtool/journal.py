"""The restore journal: what a restore has done so far, on disk, so that a crash or a kill at any
step can be finished (``restore --resume``) or undone (``restore --rollback``).

It lives under the host root in ``var/lib/drtool/restore`` (0700): ``journal.json``, written
atomically at every step, the verified staged snapshot, and the rollback point. An exclusive
``flock`` keeps a second restore out while one runs; an unfinished journal keeps it out after a
crash until it is resumed or rolled back.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from drtool.errors import RestoreInProgress, UsageError
from drtool.fsutil import write_atomically
from drtool.host import Host
from drtool.timeutil import utc_now_iso

JOURNAL_DIRECTORY = "var/lib/drtool/restore"
# Phases of a restore, in the order they happen; the last three end it.
VALIDATING, CAPTURING, APPLYING, VERIFYING = "validating", "capturing", "applying", "verifying"
ROLLING_BACK = "rolling back"
COMPLETED, ROLLED_BACK, ROLLBACK_FAILED = "completed", "rolled back", "rollback failed"
FINISHED = {COMPLETED, ROLLED_BACK}
# A test seam, and only that: the suite kills the restore at each journal step to prove that
# --resume and --rollback recover from anywhere.
KILL_AT_VARIABLE = "DRTOOL_TEST_KILL_AT"

log = logging.getLogger(__name__)


@dataclass
class JournalState:
    restore_id: str
    snapshot_id: str
    snapshot_host: str
    kinds: list[str]
    phase: str = VALIDATING
    applied: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    pre_restore_snapshot: str | None = None
    events: list[str] = field(default_factory=list)
    error: str | None = None
    started: str = field(default_factory=utc_now_iso)
    updated: str = field(default_factory=utc_now_iso)


class Journal:
    """An open journal, holding the restore lock until closed."""

    def __init__(self, directory: Path, state: JournalState, lock: IO[bytes]) -> None:
        self.directory = directory
        self.state = state
        self._lock = lock

    @property
    def staged_directory(self) -> Path:
        return self.directory / "staged"

    @property
    def rollback_directory(self) -> Path:
        return self.directory / "rollback"

    @staticmethod
    def refuse_if_unfinished(host: Host) -> None:
        """Raise RestoreInProgress if a restore was left unfinished (this only reads)."""
        previous = _read(host.path(JOURNAL_DIRECTORY))
        if previous is not None and previous.phase not in FINISHED:
            raise RestoreInProgress(
                f"restore {previous.restore_id} of {previous.snapshot_id} was left "
                f"{previous.phase}: run drtool restore --resume or --rollback first"
            )

    @classmethod
    def begin(cls, host: Host, state: JournalState, staged: Path) -> Journal:
        """Start journaling a restore whose verified, validated copy is in ``staged``: the
        first write on the host. Raise RestoreInProgress if another restore holds the lock or
        was left unfinished."""
        directory, lock = _lock(host)
        try:
            Journal.refuse_if_unfinished(host)
        except RestoreInProgress:
            lock.close()
            raise
        for leftover in ("staged", "rollback"):
            shutil.rmtree(directory / leftover, ignore_errors=True)
        journal = cls(directory, state, lock)
        journal.staged_directory.mkdir(mode=0o700)
        for path in staged.iterdir():  # a rename, or a copy from another file system
            shutil.move(path, journal.staged_directory / path.name)
        journal.rollback_directory.mkdir(mode=0o700)
        journal.record(f"begin {state.snapshot_id}")
        return journal

    @classmethod
    def reopen(cls, host: Host) -> Journal:
        """Open the journal of an unfinished restore; raise UsageError if there is none."""
        directory, lock = _lock(host)
        state = _read(directory)
        if state is None or state.phase in FINISHED:
            lock.close()
            raise UsageError("there is no unfinished restore to resume or roll back")
        return cls(directory, state, lock)

    def record(self, event: str, phase: str | None = None) -> None:
        """Write the journal (atomically, durably) with one more event; maybe a new phase."""
        if phase is not None:
            self.state.phase = phase
        self.state.events.append(event)
        self.state.updated = utc_now_iso()
        log.info("%s restore: %s", self.state.updated[11:23], event)
        write_atomically(
            self.directory / "journal.json", json.dumps(asdict(self.state), indent=2).encode()
        )
        if os.environ.get(KILL_AT_VARIABLE) == event:
            os.kill(os.getpid(), signal.SIGKILL)

    def finish(self) -> None:
        """Drop the staged copy and the rollback point; keep journal.json as the last report."""
        for leftover in (self.staged_directory, self.rollback_directory):
            shutil.rmtree(leftover, ignore_errors=True)
        self.close()

    def discard(self) -> None:
        """Forget a restore that changed nothing (refused by validation, failed to capture)."""
        shutil.rmtree(self.staged_directory, ignore_errors=True)
        shutil.rmtree(self.rollback_directory, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / "journal.json").unlink()
        self.close()

    def close(self) -> None:
        self._lock.close()


def last_report(host: Host) -> dict[str, Any] | None:
    state = _read(host.path(JOURNAL_DIRECTORY))
    return asdict(state) if state else None


def _read(directory: Path) -> JournalState | None:
    try:
        return JournalState(**json.loads((directory / "journal.json").read_text()))
    except FileNotFoundError:
        return None


def _lock(host: Host) -> tuple[Path, IO[bytes]]:
    directory = host.path(JOURNAL_DIRECTORY)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    handle = (directory / "lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RestoreInProgress("another restore is running on this host") from None
    return directory, handle
