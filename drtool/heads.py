"""Each host's head: a small encrypted record of its newest snapshot, last backup failure and
last drill, and the repository's last check, kept up to date by backup, drill and check so that
`drtool status` reads one object per host however many snapshots each has
(drtool/fleet_heads.py).

A head is rewritten whole (read, change, write): two writers of one host at the same moment (a
backup and a drill) may lose one update until the next run writes it again; the snapshots
themselves are never at stake. docs/FORMAT.md describes the names.

Any writer can seal an object for any host, so format 2 signs a head as it signs a manifest
(drtool/keyring/signatures.py): a head that is not its host's is refused, and `status` shows
it as a problem of that host, never as a healthy one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from drtool import format as object_format
from drtool.errors import (
    DrtoolError,
    IntegrityError,
    KeyFileRefused,
    KeyUnavailable,
    ObjectMissing,
)
from drtool.format import Binding
from drtool.keyring.access import WRITE_ONLY, ReaderKeys
from drtool.keyring.registration import Registration
from drtool.keyring.signatures import HEAD, sign_manifest, verified_manifest
from drtool.repository import Repository
from drtool.snapshot import Manifest, is_snapshot_id
from drtool.timeutil import iso, parse_iso, utc_now, utc_now_iso

if TYPE_CHECKING:
    from drtool.drill import DrillReport

log = logging.getLogger(__name__)

HEADS = "heads"
CHECK_HOST = "_repository"  # the check covers every host: its record is kept apart
# How far apart two machines' clocks may be: a head's `updated` is followed (_written_after) and
# remembered (drtool/fleet_heads.py) up to this far ahead of the clock of the one reading it;
# what an NTP-less machine drifts, not a date a stolen writer key put years ahead.
CLOCK_SKEW = timedelta(hours=1)


def head_name(host: str) -> str:
    return f"{HEADS}/{host}"


@dataclass(frozen=True)
class HostHead:
    """What `status` needs of one host; each part is None until it first happened."""

    host: str
    snapshot: dict[str, Any] | None = None  # id, time, tags, size of the newest backup
    backup_failure: dict[str, Any] | None = None  # time, exit code of the last failed backup
    drill: dict[str, Any] | None = None  # time, snapshot id, passed, seconds, first problem
    check: dict[str, Any] | None = None  # time, passed, read_data (the repository's record)
    updated: str = field(default_factory=utc_now_iso)


@dataclass(frozen=True)
class RefusedHead:
    """A head `status` cannot trust (damaged, malformed, or not signed by its host): a problem
    of that host."""

    host: str
    problem: str


def read_head(repository: Repository, host: str) -> HostHead | None:
    """Return ``host``'s head, None if it has none; raise IntegrityError if it is damaged or
    (format 2) not signed by a key of ``host``."""
    try:
        with repository.store.open(head_name(host)) as stream:
            payload = object_format.unseal(repository.key, Binding.host_head(host), stream)
    except ObjectMissing:
        return None
    what = f"the status record of host {host}"
    try:
        document = json.loads(payload)
        if repository.format >= 2:
            document = _verified(repository, host, document, what)
        if "updated" not in document:  # when it was written: drtool/fleet_heads.py needs it
            raise TypeError("updated")
        head = HostHead(**document)
        _check_parts(head)
    except (ValueError, TypeError, RecursionError):
        raise IntegrityError(f"{what} is unreadable") from None
    if head.host != host:
        raise IntegrityError(f"the status record of host {host} names host {head.host[:64]!r}")
    return head


def _verified(repository: Repository, host: str, envelope: object, what: str) -> dict[str, Any]:
    keys = repository.key
    if not isinstance(keys, ReaderKeys):
        raise KeyUnavailable(WRITE_ONLY)
    # Only `check`, which needs a reader's key, records the check: no writer signs that record
    # (not even one an operator registered for a host named like it).
    registration = repository.writer if host != CHECK_HOST else _no_writer
    return verified_manifest(keys, host, envelope, registration, what, HEAD)


def _no_writer(writer_id: str) -> Registration:
    raise KeyFileRefused("only an operator key signs the record of the repository's check")


# The fields `status` reads of each part of a head, and their types: a head is written by a
# host (or, in format 1, by anyone with the passphrase), so it is checked as hostile input
# before `status` uses a field.
_PARTS: dict[str, dict[str, tuple[type, ...]]] = {
    "snapshot": {"id": (str,), "time": (str,)},
    "backup_failure": {"time": (str,), "exit_code": (int,)},
    "drill": {"time": (str,), "passed": (bool,)},
    "check": {"time": (str,), "passed": (bool,), "read_data": (bool,)},
}


def _check_parts(head: HostHead) -> None:
    """Raise TypeError or ValueError unless every part ``status`` reads is typed as drtool
    writes it (times in ISO form)."""
    if not isinstance(head.host, str) or not isinstance(head.updated, str):
        raise TypeError("host")
    parse_iso(head.updated)
    for part, fields in _PARTS.items():
        value = getattr(head, part)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise TypeError(part)
        for name, types in fields.items():
            if not isinstance(value.get(name), types):
                raise TypeError(f"{part}.{name}")
        parse_iso(value["time"])
    # `status` prints the id in its table: only a snapshot id, not a host's own rows and escapes.
    if head.snapshot is not None and not is_snapshot_id(head.snapshot["id"]):
        raise ValueError("snapshot.id")


def update_head(repository: Repository, host: str, **changes: Any) -> None:
    """Rewrite ``host``'s head with ``changes``. A failure here is logged, never raised: the
    backup or drill it follows has already succeeded or failed on its own account."""
    try:
        # A write-only host cannot read its head: it writes a new one (its drill record is
        # lost until the next drill, which a reader runs).
        known = _trusted_head(repository, host) if repository.key.can_read else None
        head = replace(known or HostHead(host), **changes, updated=_written_after(known))
        document = asdict(head)
        if repository.format >= 2:
            document = sign_manifest(repository.key, host, document, HEAD)
        payload = json.dumps(document, sort_keys=True).encode()
        sealed = object_format.seal(repository.key, Binding.host_head(host), payload)
        repository.store.put(head_name(host), [sealed])
    except DrtoolError as error:
        log.warning("could not update the status record of host %s: %s", host, error)


def _written_after(known: HostHead | None) -> str:
    """Now, or just after ``known`` was written if that is later (up to CLOCK_SKEW ahead): a
    writer whose clock is behind (an operator's drill or check after the host's backup) does
    not date its head before the one it replaces, which `status` would take for an older head
    put back (drtool/fleet_heads.py). A date further ahead is not followed: signed again by this
    writer, it would outlive the revocation of the writer that claimed it, and that head put
    back later would look newer than any `status` remembers."""
    now = utc_now()
    if known is None:
        return iso(now)
    before = min(parse_iso(known.updated), now + CLOCK_SKEW)
    return iso(max(now, before + timedelta(microseconds=1)))


def _trusted_head(repository: Repository, host: str) -> HostHead | None:
    """``host``'s head, or None if it has none or one that is refused: a damaged or forged head
    is replaced by the host's next backup or drill, not kept as a lasting problem."""
    try:
        return read_head(repository, host)
    except IntegrityError as error:
        log.warning("%s: writing a new one", error)
        return None


def record_backup(repository: Repository, manifest: Manifest) -> None:
    summary = manifest.summary()
    snapshot = {key: summary[key] for key in ("id", "time", "tags", "size")}
    update_head(repository, manifest.host, snapshot=snapshot, backup_failure=None)


def record_backup_failure(repository: Repository, host: str, exit_code: int) -> None:
    update_head(repository, host, backup_failure={"time": utc_now_iso(), "exit_code": exit_code})


def record_drill(repository: Repository, report: DrillReport) -> None:
    """Record a drill under the host whose snapshot it proved (or failed to)."""
    drill = {
        "time": utc_now_iso(),
        "snapshot": report.snapshot_id,
        "passed": report.passed,
        "seconds": report.seconds.get("total", 0.0),
        "problem": report.problems[0] if report.problems else None,
    }
    update_head(repository, report.host, drill=drill)


def record_check(repository: Repository, passed: bool, read_data: bool) -> None:
    check = {"time": utc_now_iso(), "passed": passed, "read_data": read_data}
    update_head(repository, CHECK_HOST, check=check)
