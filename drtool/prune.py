"""prune: delete the objects no snapshot references, and what interrupted writes left behind.

Objects younger than the grace period are left alone: they may belong to a backup that has
not written its manifest yet. Objects under Object Lock retention are skipped and counted.
Listings are streamed, manifests read a few at a time in parallel, deletes batched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from drtool import testpoint
from drtool.errors import DrtoolError, IntegrityError
from drtool.manifests import read_manifests
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

    def describe(self) -> str:
        return (
            f"{self.referenced} object(s) in use; deleted {self.deleted} unreferenced, "
            f"kept {self.young} younger than the grace period, skipped {self.locked} under "
            f"Object Lock retention; cleaned {self.leftovers} leftover(s) of interrupted writes"
        )


def prune(
    repository: Repository, grace: timedelta = DEFAULT_GRACE, now: datetime | None = None
) -> PruneReport:
    """Delete unreferenced objects; raise IntegrityError (deleting nothing) if any snapshot is
    unreadable, since its references would be unknown."""
    moment = now or utc_now()
    report = PruneReport()
    referenced: set[str] = set()
    refs = (ref for host_refs in repository.snapshot_refs_by_host() for ref in host_refs)
    for ref, manifest in read_manifests(repository, refs):
        if isinstance(manifest, DrtoolError):
            raise IntegrityError(
                f"prune refused: snapshot {ref.host}/{ref.id} is unreadable ({manifest})"
            )
        referenced.update(part.id for record in manifest.artifacts for part in record.parts)
    report.referenced = len(referenced)
    testpoint.reached("prune:listed")
    unreferenced = _unreferenced(repository, referenced, moment - grace, report)
    report.locked = len(repository.store.delete_many(unreferenced))
    report.deleted -= report.locked
    report.leftovers = repository.store.clean_leftovers(moment - grace)
    return report


def _unreferenced(
    repository: Repository, referenced: set[str], cutoff: datetime, report: PruneReport
) -> Iterator[str]:
    """The names of the unreferenced objects older than ``cutoff``, from the streamed listing
    (its times answer; no request per object), counted in ``report`` as deleted (delete_many
    reports those a retention keeps) or young. A retention is the server's to enforce."""
    for item in repository.store.list_info("objects"):
        if item.name.rsplit("/", 1)[1] in referenced:
            continue
        if item.modified > cutoff:
            report.young += 1
        else:
            report.deleted += 1
            yield item.name
