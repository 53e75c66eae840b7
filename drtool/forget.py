"""forget: apply a retention policy (drtool.retention) and remove the manifests it does not keep,
each after its signed tombstone (drtool.tombstones), so that readers tell it from a deletion.

Objects are left to prune.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from drtool.parallel import bounded_map
from drtool.repository import Repository, manifest_name
from drtool.retention import KeepPolicy, decide
from drtool.snapshot import SnapshotRef
from drtool.timeutil import utc_now
from drtool.tombstones import tombstone_name, write_tombstone


@dataclass
class ForgetReport:
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    # host/id -> the rules that keep it, or why none does
    reasons: dict[str, list[str]] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"keep   {label}  ({', '.join(self.reasons[label])})" for label in self.kept]
        lines += [f"remove {label}  ({'; '.join(self.reasons[label])})" for label in self.removed]
        lines += [f"locked {snapshot} (Object Lock retention; kept)" for snapshot in self.locked]
        lines.append(
            f"kept {len(self.kept)}, removed {len(self.removed)}, "
            f"locked {len(self.locked)} snapshot(s)"
        )
        return "\n".join(lines)


def forget(
    repository: Repository,
    policy: KeepPolicy,
    host: str | None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ForgetReport:
    """Apply ``policy`` to every host's snapshots (or ``host``'s); return what happened.

    Every tombstone is written before any manifest goes (a crash between leaves tombstones of
    snapshots still there, which readers accept); the manifests then go in batches, so removing
    a year of one host costs a PUT per snapshot and a request per thousand, not two per snapshot.
    """
    policy.check()
    moment = now or utc_now()
    report = ForgetReport()
    going: list[SnapshotRef] = []
    refs = repository.snapshot_refs(host)
    for host_name in sorted({ref.host for ref in refs}):
        mine = [ref for ref in refs if ref.host == host_name]
        for decision in reversed(decide(mine, policy, moment)):  # oldest first, as listed
            label = f"{decision.ref.host}/{decision.ref.id}"
            if decision.keep:
                report.kept.append(label)
                report.reasons[label] = decision.reasons
            else:
                going.append(decision.ref)
                report.reasons[label] = decision.why_not or ["no rule keeps it"]
    locked = set() if dry_run else _remove(repository, going)
    for ref in going:
        label = f"{ref.host}/{ref.id}"
        (report.locked if label in locked else report.removed).append(label)
    return report


def _remove(repository: Repository, refs: list[SnapshotRef]) -> set[str]:
    """Tombstone then delete each of ``refs``; return the ``host/id`` of those Object Lock kept."""
    for _ in bounded_map(lambda ref: write_tombstone(repository, ref), refs):
        pass
    by_name = {manifest_name(ref.host, ref.id): ref for ref in refs}
    kept = [by_name[name] for name in repository.store.delete_many(by_name)]
    # A kept manifest needs no tombstone (harmless if a bucket's default retention keeps it too).
    repository.store.delete_many(tombstone_name(ref.host, ref.id) for ref in kept)
    return {f"{ref.host}/{ref.id}" for ref in kept}
