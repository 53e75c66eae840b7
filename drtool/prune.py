"""prune: delete the objects (format 1) and packs (format 2) no snapshot references, and what
interrupted writes left behind; packs some snapshot uses only in part are repacked.

Objects younger than the grace period are left alone: they may belong to a backup that has
not written its manifest yet. Objects under Object Lock retention are skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drtool import testpoint
from drtool.errors import DrtoolError, IntegrityError, ObjectLocked
from drtool.pack_usage import PackUsage
from drtool.packs import pack_name
from drtool.parts import object_ids, object_name
from drtool.relocations import relocation_name
from drtool.repack import DEFAULT_MAX_UNUSED, repack
from drtool.repository import Repository
from drtool.timeutil import utc_now

DEFAULT_GRACE = timedelta(hours=1)


@dataclass
class PruneReport:
    referenced: int = 0
    deleted: int = 0
    young: int = 0
    locked: int = 0
    leftovers: int = 0
    repacked: int = 0

    def describe(self) -> str:
        repacked = f"; repacked {self.repacked} partly used pack(s)" if self.repacked else ""
        return (
            f"{self.referenced} object(s) in use; deleted {self.deleted} unreferenced, "
            f"kept {self.young} younger than the grace period, skipped {self.locked} under "
            f"Object Lock retention; cleaned {self.leftovers} leftover(s) of interrupted writes"
            f"{repacked}"
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
    usage = PackUsage(repository)
    for ref in repository.snapshot_refs():
        try:
            manifest = repository.read_manifest(ref)
            usage.add(manifest)
        except DrtoolError as error:
            raise IntegrityError(
                f"prune refused: snapshot {ref.host}/{ref.id} is unreadable ({error})"
            ) from None
        referenced.update(part.id for record in manifest.artifacts for part in record.parts)
    report.referenced = len(referenced) + len(usage.packs)
    testpoint.reached("prune:listed")
    unused = [object_name(item) for item in sorted(set(object_ids(repository)) - referenced)]
    unused += [pack_name(pack) for pack in sorted(usage.stored - set(usage.packs))]
    for name in unused:
        _delete_unreferenced(repository, name, moment - grace, moment, report)
    for pack in sorted(usage.relocated - usage.relocations_used):
        repository.store.delete(relocation_name(pack))  # no snapshot names the old pack
    report.repacked = repack(repository, usage, moment - grace, max_unused)
    report.leftovers = repository.store.clean_leftovers(moment - grace)
    return report


def _delete_unreferenced(
    repository: Repository, name: str, young_after: datetime, moment: datetime, report: PruneReport
) -> None:
    """Delete an object no snapshot references, unless it is young or locked."""
    info = repository.store.stat(name)
    if info.modified > young_after:
        report.young += 1
    elif info.retain_until is not None and info.retain_until > moment:
        report.locked += 1
    else:
        try:
            repository.store.delete(name)
            report.deleted += 1
        except ObjectLocked:
            report.locked += 1
