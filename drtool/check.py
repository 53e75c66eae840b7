"""`drtool check`: every manifest decrypts, every object it references exists (and, with
--read-data, decrypts and matches its keyed hash), and no snapshot is gone unnoticed: none that
a manifest names as previous, none this machine saw (drtool/chain.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drtool import progress
from drtool.chain import find_gaps, newest_read
from drtool.errors import DrtoolError, IntegrityError
from drtool.repository import Repository, object_name
from drtool.seen import SeenState
from drtool.snapshot import Manifest, SnapshotRef, is_future
from drtool.timeutil import utc_now


@dataclass
class CheckReport:
    snapshots: int = 0
    objects_referenced: int = 0
    objects_read: int = 0
    objects_unreferenced: int = 0
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"problem: {problem}" for problem in self.problems]
        verdict = f"{len(self.problems)} problem(s)" if self.problems else "no problems found"
        read = f", {self.objects_read} read and verified" if self.objects_read else ""
        unreferenced = (
            f"; {self.objects_unreferenced} unreferenced object(s) (left by an interrupted backup;"
            " harmless)"
            if self.objects_unreferenced
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
    repository: Repository, read_data: bool = False, seen: SeenState | None = None
) -> CheckReport:
    """Return a report of every problem found; nothing in the repository is changed. ``seen``
    (this machine's memory) learns the newest snapshot of each host whose chain is whole."""
    report = CheckReport()
    referenced: dict[str, tuple[str, int]] = {}
    refs = repository.snapshot_refs()
    manifests: dict[str, dict[str, Manifest]] = {}
    now = utc_now()
    for ref in refs:
        report.snapshots += 1
        try:
            manifest = repository.read_manifest(ref)
        except DrtoolError as error:
            report.problems.append(f"snapshot {ref.host}/{ref.id}: {error}")
            continue
        if not is_future(ref, now):
            manifests.setdefault(ref.host, {})[ref.id] = manifest
        for record in manifest.artifacts:
            for part in record.parts:
                if part.id not in referenced and not repository.store.contains(
                    object_name(part.id)
                ):
                    report.problems.append(
                        f"snapshot {ref.host}/{ref.id}: object {part.id[:16]} ({record.kind}) "
                        "is missing"
                    )
                referenced.setdefault(part.id, (record.kind, part.size))
    _check_chains(repository, refs, manifests, seen, report)
    report.objects_referenced = len(referenced)
    stored = set(repository.object_ids())
    report.objects_unreferenced = len(stored - set(referenced))
    if read_data:
        readable = sorted(item for item in referenced.items() if item[0] in stored)
        with progress.task("verifying objects", len(readable), progress.ITEMS):
            for object_id, (kind, size) in readable:
                try:
                    repository.verify_part(kind, object_id, size)
                    report.objects_read += 1
                except DrtoolError as error:
                    report.problems.append(str(error))
                progress.advance(1, progress.ITEMS)
    return report


def _check_chains(
    repository: Repository,
    refs: list[SnapshotRef],
    manifests: dict[str, dict[str, Manifest]],
    seen: SeenState | None,
    report: CheckReport,
) -> None:
    hosts = sorted({ref.host for ref in refs} | set(seen.newest if seen else ()))
    for host in hosts:
        listed = [ref for ref in refs if ref.host == host]
        mine = manifests.get(host, {})
        gaps = find_gaps(repository, host, listed, mine, seen.newest_of(host) if seen else None)
        report.problems += [gap.describe() for gap in gaps]
        newest = newest_read(mine, host)
        if seen is not None and newest is not None and not gaps:
            seen.saw(host, newest)
    if seen is not None:
        seen.save()
