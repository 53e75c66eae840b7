"""Every failure drtool reports, each carrying the exit code the CLI returns for it.

The CLI catches :class:`DrtoolError` in exactly one place and prints ``str(error)`` on one line.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; the README documents them for operators and scripts."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    DIFFERENCES = 3  # drtool diff found differences (not an error: cron and CI alert on it)
    REPOSITORY_NOT_FOUND = 10
    REPOSITORY_EXISTS = 11
    KEY = 12
    SNAPSHOT_NOT_FOUND = 13
    INTEGRITY = 14
    UNSAFE_ARCHIVE = 15
    CONFIRMATION = 16
    CONFIG = 17
    UNSUPPORTED_FORMAT = 18
    STORAGE = 19
    COLLECT = 20
    LOCKED = 21
    VALIDATION_REFUSED = 22
    ROLLED_BACK = 23
    ROLLBACK_INCOMPLETE = 24
    RESTORE_IN_PROGRESS = 25
    RESTORE_NOT_STARTED = 26
    DRILL_FAILED = 27
    SECRET_WITHHELD = 28
    FLEET_NEEDS_ATTENTION = 29
    FIREWALL_REVERTED = 32
    FIREWALL_BACKEND = 36
    ENTRY_NOT_FOUND = 37
    STATE_DAMAGED = 55  # this reader's memory of the snapshots it has seen is unreadable
    NO_ROOM = 65  # a snapshot does not fit where it would be staged
    KEY_ATTEMPTS = 66  # too many expensive key files tried (a hostile repository's KDF cost)
    INTERRUPTED = 130


class DrtoolError(Exception):
    """Base of every error drtool expects; its message is one line meant for an operator."""

    exit_code: ExitCode = ExitCode.INTERNAL


class UsageError(DrtoolError):
    exit_code = ExitCode.USAGE


class RepositoryNotFound(DrtoolError):
    exit_code = ExitCode.REPOSITORY_NOT_FOUND


class RepositoryExists(DrtoolError):
    exit_code = ExitCode.REPOSITORY_EXISTS


class KeyUnavailable(DrtoolError):
    """Wrong or missing passphrase, or no usable key in the repository."""

    exit_code = ExitCode.KEY


class KeyFileRefused(KeyUnavailable):
    """A key file is damaged, or asks for more than the KDF caps allow: not even tried."""


class SnapshotNotFound(DrtoolError):
    exit_code = ExitCode.SNAPSHOT_NOT_FOUND


class IntegrityError(DrtoolError):
    """Data failed authentication, was truncated, or is missing from the repository."""

    exit_code = ExitCode.INTEGRITY


class SnapshotsMissing(IntegrityError):
    """A snapshot this reader has seen, or one a manifest names as its previous, is gone from
    the repository with no authenticated record of a ``forget`` (``--accept-missing``)."""


class StateDamaged(DrtoolError):
    """drtool's own record of the snapshots it has seen is unreadable: never trusted, never
    silently replaced."""

    exit_code = ExitCode.STATE_DAMAGED


class UnsafeArchive(DrtoolError):
    """An archive entry would land outside its root, or is of a type drtool never writes."""

    exit_code = ExitCode.UNSAFE_ARCHIVE


class ConfirmationRequired(DrtoolError):
    exit_code = ExitCode.CONFIRMATION


class ConfigError(DrtoolError):
    exit_code = ExitCode.CONFIG


class UnsupportedFormat(DrtoolError):
    exit_code = ExitCode.UNSUPPORTED_FORMAT


class StorageError(DrtoolError):
    exit_code = ExitCode.STORAGE


class CollectError(DrtoolError):
    """A collector could not read what it owns on the host."""

    exit_code = ExitCode.COLLECT


class RepositoryLocked(DrtoolError):
    """Another prune (or key change) holds the repository's exclusive lock."""

    exit_code = ExitCode.LOCKED


class ValidationRefused(DrtoolError):
    """A staged configuration failed its service's own check; nothing on the host changed."""

    exit_code = ExitCode.VALIDATION_REFUSED


class RestoreFailed(DrtoolError):
    """A live step (apply, restart, health check) failed; the engine rolls back from it."""

    exit_code = ExitCode.ROLLBACK_INCOMPLETE


class RestoreInProgress(DrtoolError):
    """A restore runs on this host, or one was left unfinished (resume or roll it back)."""

    exit_code = ExitCode.RESTORE_IN_PROGRESS


class RestoreNotStarted(DrtoolError):
    """The host could not take the restore's own files (staging, journal, rollback point): a
    full disk, a permission. Nothing on the host changed."""

    exit_code = ExitCode.RESTORE_NOT_STARTED


class DrillFailed(DrtoolError):
    """A drill found that the snapshot would not restore as it is (the report says why)."""

    exit_code = ExitCode.DRILL_FAILED


class FirewallReverted(DrtoolError):
    """``confirm`` came too late: the dead-man's switch already put the previous rules back."""

    exit_code = ExitCode.FIREWALL_REVERTED


class SecretWithheld(DrtoolError):
    """A command was asked to print a secret file's content without ``--secrets``."""

    exit_code = ExitCode.SECRET_WITHHELD


class FirewallBackendRefused(DrtoolError):
    """A snapshot's firewall backend is not one drtool knows, or this host lacks its tools:
    refused before anything changes, never restored with another backend half-way."""

    exit_code = ExitCode.FIREWALL_BACKEND


class EntryNotFound(DrtoolError):
    """``drtool dump`` / ``ls`` named a path the snapshot does not hold."""

    exit_code = ExitCode.ENTRY_NOT_FOUND


class NoRoom(DrtoolError):
    """A snapshot declares more than the disk it would be staged on has free: refused before
    anything is written, instead of filling the host's disk."""

    exit_code = ExitCode.NO_ROOM


class KeyAttemptsExceeded(KeyUnavailable):
    """A repository holds more key files at a high KDF cost than drtool tries on one unlock."""

    exit_code = ExitCode.KEY_ATTEMPTS


class FleetNeedsAttention(DrtoolError):
    """`status` found a host with no recent backup, a failing backup, or a failed drill."""

    exit_code = ExitCode.FLEET_NEEDS_ATTENTION


class RestoreOutcome(DrtoolError):
    """A restore that changed the host and then failed; ``report`` says what happened."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class RestoreRolledBack(RestoreOutcome):
    """The restore failed and the host is back as it was, verified."""

    exit_code = ExitCode.ROLLED_BACK


class RollbackIncomplete(RestoreOutcome):
    """The restore failed and so did its rollback: the report says what the operator must do."""

    exit_code = ExitCode.ROLLBACK_INCOMPLETE


class ObjectMissing(StorageError):
    """A name the caller expected is not in the store."""


class ObjectExists(StorageError):
    """A conditional write found the name already taken."""


class ObjectLocked(StorageError):
    """A delete was refused because the object is under retention (Object Lock)."""
