"""`drtool check`: every manifest decrypts, every object it references exists (and, with
--read-data, decrypts and matches its keyed hash)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drtool import progress
from drtool.errors import DrtoolError, IntegrityError
from drtool.repository import Repository, object_name


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
    referenced: dict[str, tuple[str, int, str]] = {}
    for ref in repository.snapshot_refs():
        report.snapshots += 1
        try:
            manifest = repository.read_manifest(ref)
        except DrtoolError as error:
            report.problems.append(f"snapshot {ref.host}/{ref.id}: {error}")
            continue
        for record in manifest.artifacts:
            for part in record.parts:
                if part.id not in referenced and not repository.store.contains(
                    object_name(part.id)
                ):
                    report.problems.append(
                        f"snapshot {ref.host}/{ref.id}: object {part.id[:16]} ({record.kind}) "
                        "is missing"
                    )
                referenced.setdefault(part.id, (record.kind, part.size, ref.host))
    report.objects_referenced = len(referenced)
    stored = set(repository.object_ids())
    report.objects_unreferenced = len(stored - set(referenced))
    if read_data:
        readable = sorted(item for item in referenced.items() if item[0] in stored)
        with progress.task("verifying objects", len(readable), progress.ITEMS):
            for object_id, (kind, size, host) in readable:
                try:
                    repository.verify_part(kind, object_id, size, host)
                    report.objects_read += 1
                except DrtoolError as error:
                    report.problems.append(str(error))
                progress.advance(1, progress.ITEMS)
    return report
