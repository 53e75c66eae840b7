"""prune: delete the objects (format 1) and packs (format 2) no snapshot references, and what
interrupted writes left behind; packs some snapshot uses only in part are repacked.

Objects younger than the grace period are left alone: they may belong to a backup that has
not written its manifest yet. Objects under Object Lock retention are skipped and counted.
Listings are streamed, manifests read a few at a time in parallel, deletes batched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from drtool import testpoint
from drtool.errors import DrtoolError, IntegrityError, ObjectLocked
from drtool.manifests import read_manifests
from drtool.pack_usage import PackUsage
from drtool.relocations import relocation_name
from drtool.repack import DEFAULT_MAX_UNUSED, repack
from drtool.repository import Repository
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
    repacked: int = 0
    tombstones: int = 0

    def describe(self) -> str:
        repacked = f"; repacked {self.repacked} partly used pack(s)" if self.repacked else ""
        return (
            f"{self.referenced} object(s) in use; deleted {self.deleted} unreferenced, "
            f"kept {self.young} younger than the grace period, skipped {self.locked} under "
            f"Object Lock retention; deleted {self.tombstones} tombstone(s) no snapshot names; "
            f"cleaned {self.leftovers} leftover(s) of interrupted writes{repacked}"
        )


def prune(
    repository: Repository,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    max_unused: float = DEFAULT_MAX_UNUSED,
) -> PruneReport:
    """Delete unreferenced objects, repack partly used packs (drtool/repack.py); raise
    IntegrityError (deleting nothing) if any snapshot is unreadable, since its references would
    be unknown."""
    moment = now or utc_now()
    report = PruneReport()
    referenced: set[str] = set()
    named: set[tuple[str, str | None]] = set()  # (host, previous) of every manifest
    usage = PackUsage(repository)
    refs = (ref for host_refs in repository.snapshot_refs_by_host() for ref in host_refs)
    for ref, manifest in read_manifests(repository, refs):
        if isinstance(manifest, DrtoolError):
            raise IntegrityError(
                f"prune refused: snapshot {ref.host}/{ref.id} is unreadable ({manifest})"
            )
        try:
            usage.add(manifest)
        except DrtoolError as error:
            raise IntegrityError(
                f"prune refused: snapshot {ref.host}/{ref.id} is unreadable ({error})"
            ) from None
        referenced.update(part.id for record in manifest.artifacts for part in record.parts)
        named.add((manifest.host, manifest.previous))
    report.referenced = len(referenced) + len(usage.packs)
    testpoint.reached("prune:listed")
    referenced.update(usage.packs)
    cutoff = moment - grace
    unreferenced = [
        name
        for prefix in ("objects", "packs")
        for name in _unreferenced(repository, prefix, referenced, cutoff, report)
    ]
    report.locked = len(repository.store.delete_many(unreferenced))
    report.deleted -= report.locked
    for pack in sorted(usage.relocated - usage.relocations_used):
        repository.store.delete(relocation_name(pack))  # no snapshot names the old pack
    report.repacked = repack(repository, usage, cutoff, max_unused)
    report.leftovers = repository.store.clean_leftovers(cutoff)
    report.tombstones = _prune_tombstones(repository, named)
    return report


def _unreferenced(
    repository: Repository, prefix: str, referenced: set[str], cutoff: datetime, report: PruneReport
) -> Iterator[str]:
    """The names under ``prefix`` (objects, packs) no snapshot references and older than
    ``cutoff``, from the streamed listing (its times answer; no request per object), counted in
    ``report`` as deleted (delete_many reports those a retention keeps) or young. A retention is
    the server's to enforce."""
    for item in repository.store.list_info(prefix):
        if item.name.rsplit("/", 1)[1] in referenced:
            continue
        if item.modified > cutoff:
            report.young += 1
        else:
            report.deleted += 1
            yield item.name


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
