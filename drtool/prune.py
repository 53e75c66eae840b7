"""prune: delete the objects no snapshot references, and what interrupted writes left behind.

Objects younger than the grace period are left alone: they may belong to a backup that has
not written its manifest yet. Objects under Object Lock retention are skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drtool import testpoint
from drtool.errors import DrtoolError, IntegrityError, ObjectLocked
from drtool.repository import Repository, object_name
from drtool.timeutil import utc_now
from drtool.tombstones import tombstone_name, tombstoned

DEFAULT_GRACE = timedelta(hours=1)


@dataclass
class PruneReport:
    referenced: int = 0
    deleted: int = 0
    young: int = 0
    locked: int = 0
    leftovers: int = 0
    tombstones: int = 0

    def describe(self) -> str:
        return (
            f"{self.referenced} object(s) in use; deleted {self.deleted} unreferenced, "
            f"kept {self.young} younger than the grace period, skipped {self.locked} under "
            f"Object Lock retention; deleted {self.tombstones} tombstone(s) no snapshot names; "
            f"cleaned {self.leftovers} leftover(s) of interrupted writes"
        )


def prune(
    repository: Repository, grace: timedelta = DEFAULT_GRACE, now: datetime | None = None
) -> PruneReport:
    """Delete unreferenced objects; raise IntegrityError (deleting nothing) if any snapshot is
    unreadable, since its references would be unknown."""
    moment = now or utc_now()
    report = PruneReport()
    referenced: set[str] = set()
    named: set[tuple[str, str | None]] = set()  # (host, previous) of every manifest
    for ref in repository.snapshot_refs():
        try:
            manifest = repository.read_manifest(ref)
        except DrtoolError as error:
            raise IntegrityError(
                f"prune refused: snapshot {ref.host}/{ref.id} is unreadable ({error})"
            ) from None
        referenced.update(part.id for record in manifest.artifacts for part in record.parts)
        named.add((manifest.host, manifest.previous))
    report.referenced = len(referenced)
    testpoint.reached("prune:listed")
    for object_id in sorted(set(repository.object_ids()) - referenced):
        name = object_name(object_id)
        info = repository.store.stat(name)
        if info.modified > moment - grace:
            report.young += 1
        elif info.retain_until is not None and info.retain_until > moment:
            report.locked += 1
        else:
            try:
                repository.store.delete(name)
                report.deleted += 1
            except ObjectLocked:
                report.locked += 1
    report.leftovers = repository.store.clean_leftovers(moment - grace)
    report.tombstones = _prune_tombstones(repository, named)
    return report


def _prune_tombstones(repository: Repository, named: set[tuple[str, str | None]]) -> int:
    """Delete the tombstones of snapshots no manifest names as previous: nothing checks them
    any more. The caller holds the exclusive lock, so no backup is naming one meanwhile."""
    deleted = 0
    for ref in list(tombstoned(repository)):
        if (ref.host, ref.id) not in named:
            try:
                repository.store.delete(tombstone_name(ref.host, ref.id))
                deleted += 1
            except ObjectLocked:  # a bucket's default retention: it goes when that ends
                continue
    return deleted
