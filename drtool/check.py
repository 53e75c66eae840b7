"""`drtool check`: every manifest decrypts, every object it references exists (and, with
--read-data, decrypts and matches its keyed hash), and no snapshot is gone unnoticed: none that
a manifest names as previous, none this machine saw (drtool/chain.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drtool import progress
from drtool.chain import find_gaps, newest_read
from drtool.errors import DrtoolError, IntegrityError
from drtool.manifests import read_manifests
from drtool.pack_usage import PackUsage
from drtool.parts import object_ids, verify_part
from drtool.repository import Repository
from drtool.seen import SeenState
from drtool.snapshot import Manifest, SnapshotRef, is_future
from drtool.timeutil import utc_now


@dataclass
class CheckReport:
    snapshots: int = 0
    objects_referenced: int = 0
    objects_read: int = 0
    objects_unreferenced: int = 0
    packs_unreferenced: int = 0
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"problem: {problem}" for problem in self.problems]
        verdict = f"{len(self.problems)} problem(s)" if self.problems else "no problems found"
        read = f", {self.objects_read} read and verified" if self.objects_read else ""
        unreferenced = (
            f"; {self.objects_unreferenced + self.packs_unreferenced} unreferenced object(s) "
            "(left by an interrupted backup; harmless)"
            if self.objects_unreferenced + self.packs_unreferenced
            else ""
        )
        lines.append(
            f"checked {self.snapshots} snapshot(s), {self.objects_referenced} object(s){read}: "
            f"{verdict}{unreferenced}"
        )
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        if self.problems:
            raise IntegrityError(
                f"repository check found {len(self.problems)} problem(s), first: {self.problems[0]}"
            )


def check_repository(
    repository: Repository,
    read_data: bool = False,
    read_data_subset: float = 0.0,
    seen: SeenState | None = None,
) -> CheckReport:
    """Return a report of every problem found; nothing in the repository is changed.
    ``read_data_subset``: the percentage of the used packs whose used blobs are read and
    verified (format 2). ``seen`` (this machine's memory) learns the newest snapshot of each
    host whose chain is whole. Hosts are read one at a time, so memory holds one host's."""
    report = CheckReport()
    # object id -> kind, size, host, the first snapshot that references it (format 1's parts)
    referenced: dict[str, tuple[str, int, str, str]] = {}
    usage = PackUsage(repository)
    now = utc_now()
    hosts_seen = set(seen.newest if seen else ())
    for host_refs in repository.snapshot_refs_by_host():
        manifests: dict[str, Manifest] = {}
        for ref, manifest in read_manifests(repository, host_refs):
            report.snapshots += 1
            if isinstance(manifest, DrtoolError):
                report.problems.append(f"snapshot {ref.host}/{ref.id}: {manifest}")
                continue
            try:
                usage.add(manifest)
            except DrtoolError as error:
                report.problems.append(f"snapshot {ref.host}/{ref.id}: {error}")
            if not is_future(ref, now):
                manifests[ref.id] = manifest
            for record in manifest.artifacts:
                for part in record.parts:
                    label = f"{ref.host}/{ref.id}"
                    referenced.setdefault(part.id, (record.kind, part.size, ref.host, label))
        host = host_refs[0].host
        hosts_seen.discard(host)
        _check_chain(repository, host, host_refs, manifests, seen, report)
    for host in sorted(hosts_seen):  # every snapshot this machine saw of it is gone
        _check_chain(repository, host, [], {}, seen, report)
    if seen is not None:
        seen.save()
    report.objects_referenced = len(referenced) + usage.blobs
    stored = set()  # the referenced objects the listing shows: no request per object
    for object_id in object_ids(repository):
        if object_id in referenced:
            stored.add(object_id)
        else:
            report.objects_unreferenced += 1
    for object_id, (kind, _, _, label) in referenced.items():
        if object_id not in stored:
            report.problems.append(f"snapshot {label}: object {object_id[:16]} ({kind}) is missing")
    _check_packs(repository, usage, report, 100.0 if read_data else read_data_subset)
    if read_data:
        readable = sorted(item for item in referenced.items() if item[0] in stored)
        with progress.task("verifying objects", len(readable), progress.ITEMS):
            for object_id, (kind, size, host, _) in readable:
                try:
                    verify_part(repository, kind, object_id, size, host)
                    report.objects_read += 1
                except DrtoolError as error:
                    report.problems.append(str(error))
                progress.advance(1, progress.ITEMS)
    return report


def _check_packs(
    repository: Repository, usage: PackUsage, report: CheckReport, percent: float
) -> None:
    """Format 2: every used pack exists (one listing); ``percent`` of them are read."""
    for pack, count in sorted(usage.missing.items()):
        report.problems.append(f"pack {pack[:16]} is missing ({count} blob(s) named in it)")
    report.packs_unreferenced = len(usage.stored - set(usage.packs))
    chosen = usage.sample(percent) if percent else []
    with progress.task("verifying packs", len(chosen), progress.ITEMS):
        for pack in chosen:
            problem = usage.verify(pack)
            if problem:
                report.problems.append(problem)
            else:
                report.objects_read += len(usage.packs[pack])
            progress.advance(1, progress.ITEMS)


def _check_chain(
    repository: Repository,
    host: str,
    listed: list[SnapshotRef],
    manifests: dict[str, Manifest],
    seen: SeenState | None,
    report: CheckReport,
) -> None:
    """The gaps of ``host``'s chain into ``report``; ``seen`` learns its newest if whole."""
    gaps = find_gaps(repository, host, listed, manifests, seen.newest_of(host) if seen else None)
    report.problems += [gap.describe() for gap in gaps]
    newest = newest_read(manifests, host)
    if seen is not None and newest is not None and not gaps:
        seen.saw(host, newest)
