"""`drtool check`: every manifest decrypts, every object it references exists (and, with
--read-data, decrypts and matches its keyed hash)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drtool import progress
from drtool.errors import DrtoolError, IntegrityError
from drtool.manifests import read_manifests
from drtool.repository import Repository


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


def check_repository(repository: Repository, read_data: bool = False) -> CheckReport:
    """Return a report of every problem found; nothing is changed."""
    report = CheckReport()
    # object id -> kind, size, the first snapshot that references it
    referenced: dict[str, tuple[str, int, str]] = {}
    refs = (ref for host_refs in repository.snapshot_refs_by_host() for ref in host_refs)
    for ref, manifest in read_manifests(repository, refs):
        report.snapshots += 1
        if isinstance(manifest, DrtoolError):
            report.problems.append(f"snapshot {ref.host}/{ref.id}: {manifest}")
            continue
        for record in manifest.artifacts:
            for part in record.parts:
                referenced.setdefault(part.id, (record.kind, part.size, f"{ref.host}/{ref.id}"))
    report.objects_referenced = len(referenced)
    stored = set()  # the referenced objects the listing shows: no request per object
    for object_id in repository.object_ids():
        if object_id in referenced:
            stored.add(object_id)
        else:
            report.objects_unreferenced += 1
    for object_id, (kind, _, label) in referenced.items():
        if object_id not in stored:
            report.problems.append(f"snapshot {label}: object {object_id[:16]} ({kind}) is missing")
    if read_data:
        readable = sorted(item for item in referenced.items() if item[0] in stored)
        with progress.task("verifying objects", len(readable), progress.ITEMS):
            for object_id, (kind, size, _) in readable:
                try:
                    repository.verify_part(kind, object_id, size)
                    report.objects_read += 1
                except DrtoolError as error:
                    report.problems.append(str(error))
                progress.advance(1, progress.ITEMS)
    return report
