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
import posixpath
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from drtool import testpoint
from drtool.errors import RestoreInProgress, UsageError
from drtool.fsutil import make_directory, open_private, write_atomically
from drtool.host import Host
from drtool.timeutil import utc_now_iso

JOURNAL_DIRECTORY = "var/lib/drtool/restore"
# Phases of a restore, in the order they happen; the last three end it.
VALIDATING, CAPTURING, APPLYING, VERIFYING = "validating", "capturing", "applying", "verifying"
ROLLING_BACK = "rolling back"
COMPLETED, ROLLED_BACK, ROLLBACK_FAILED = "completed", "rolled back", "rollback failed"
ABANDONED = "abandoned"  # the operator repaired the host by hand (restore --abandon)
FINISHED = {COMPLETED, ROLLED_BACK, ABANDONED}

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
    down_before: list[str] = field(default_factory=list)  # services not running before
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
    def refuse_if_unfinished(host: Host, snapshot_id: str | None = None) -> None:
        """Raise RestoreInProgress if a restore was left unfinished (this only reads).

        A restore of ``snapshot_id`` is let through where it is the pre-restore snapshot of a
        restore whose rollback failed: putting the state from before back is what the operator
        was advised to do, and it supersedes that journal.
        """
        previous = _read(host.path(JOURNAL_DIRECTORY))
        if previous is None or previous.phase in FINISHED:
            return
        if snapshot_id is not None and snapshot_id == superseding_snapshot(previous):
            return
        raise RestoreInProgress(
            f"restore {previous.restore_id} of {previous.snapshot_id} was left "
            f"{previous.phase}: {advice(previous)}"
        )

    @classmethod
    def begin(cls, host: Host, state: JournalState, staged: Path) -> Journal:
        """Start journaling a restore whose verified, validated copy is in ``staged``: the
        first write on the host. Raise RestoreInProgress if another restore holds the lock or
        was left unfinished."""
        directory, lock = _lock(host)
        try:
            Journal.refuse_if_unfinished(host, state.snapshot_id)
        except RestoreInProgress:
            lock.close()
            raise
        for leftover in ("staged", "rollback"):
            shutil.rmtree(directory / leftover, ignore_errors=True)
        journal = cls(directory, state, lock)
        make_directory(journal.staged_directory, 0o700)
        for path in staged.iterdir():  # a rename, or a copy from another file system
            shutil.move(path, journal.staged_directory / path.name)
        make_directory(journal.rollback_directory, 0o700)
        journal.record(f"begin {state.snapshot_id}")
        return journal

    @classmethod
    def reopen(cls, host: Host) -> Journal:
        """Open the journal of an unfinished restore; raise UsageError if there is none."""
        directory, lock = _lock(host)
        state = _read(directory)
        if state is None or state.phase in FINISHED:
            lock.close()
            raise UsageError("there is no unfinished restore to resume, roll back or abandon")
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
        testpoint.reached(f"restore:{event}")

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

    def abandon(self) -> None:
        """Drop the journal of an unfinished restore the operator finished by hand: the staged
        copy and the rollback point go; journal.json stays, ``abandoned``, as the last report."""
        self.record("abandoned by the operator", ABANDONED)
        self.finish()

    def close(self) -> None:
        self._lock.close()


ABANDON_ADVICE = "`drtool restore --abandon --yes` once you have repaired the host by hand"


def superseding_snapshot(state: JournalState) -> str | None:
    """The snapshot whose restore may replace this unfinished one: the state from before, once
    the rollback to it has failed or been cut short."""
    if state.phase in (ROLLING_BACK, ROLLBACK_FAILED):
        return state.pre_restore_snapshot
    return None


def advice(state: JournalState) -> str:
    """What the operator can run about an unfinished restore; each command, in backquotes,
    runs as printed."""
    if state.phase in (ROLLING_BACK, ROLLBACK_FAILED):
        steps = ["`drtool restore --rollback --yes` once its cause is fixed"]
        if state.pre_restore_snapshot:
            steps.append(
                f"`drtool restore {state.pre_restore_snapshot} --yes` (the state from before)"
            )
    else:
        steps = [
            "`drtool restore --resume --yes` to finish it",
            "`drtool restore --rollback --yes` to undo it",
        ]
    return f"run {', or '.join([*steps, ABANDON_ADVICE])}"


def remove_finished_state(host: Host) -> None:
    """Remove drtool's state from ``host`` (a --target directory) unless a restore there is
    unfinished; then the directories it created, if they are empty."""
    directory = host.path(JOURNAL_DIRECTORY)
    state = _read(directory)
    if state is not None and state.phase not in FINISHED:
        return
    shutil.rmtree(directory, ignore_errors=True)
    parent = posixpath.dirname(JOURNAL_DIRECTORY)
    while parent:
        try:
            host.path(parent).rmdir()
        except OSError:  # not empty: something else lives there
            return
        parent = posixpath.dirname(parent)


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
    make_directory(directory.parent, 0o700)  # var/lib/drtool
    make_directory(directory, 0o700)
    handle = open_private(directory / "lock", append=True)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RestoreInProgress("another restore is running on this host") from None
    return directory, handle
