"""forget: which snapshots a retention policy keeps, and removing the others' manifests.

Objects are left to prune. Each host's newest snapshot is always kept, whatever the policy:
backups reuse its objects without asking the store, so it must never vanish under them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from drtool.errors import ObjectLocked, UsageError
from drtool.repository import Repository, manifest_name
from drtool.snapshot import SnapshotRef


@dataclass(frozen=True)
class KeepPolicy:
    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def check(self) -> None:
        if min(self.last, self.daily, self.weekly, self.monthly) < 0:
            raise UsageError("--keep-* counts must not be negative")
        if not (self.last or self.daily or self.weekly or self.monthly):
            raise UsageError(
                "give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly"
            )


@dataclass
class ForgetReport:
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"remove {snapshot}" for snapshot in self.removed]
        lines += [f"locked {snapshot} (Object Lock retention; kept)" for snapshot in self.locked]
        lines.append(
            f"kept {len(self.kept)}, removed {len(self.removed)}, "
            f"locked {len(self.locked)} snapshot(s)"
        )
        return "\n".join(lines)


def _snapshot_time(ref: SnapshotRef) -> datetime:
    return datetime.strptime(ref.id[:16], "%Y%m%dT%H%M%SZ")


_BUCKETS: dict[str, Callable[[datetime], str]] = {
    "daily": lambda moment: moment.strftime("%Y-%m-%d"),
    "weekly": lambda moment: moment.strftime("%G-W%V"),
    "monthly": lambda moment: moment.strftime("%Y-%m"),
}


def snapshots_to_keep(refs: Sequence[SnapshotRef], policy: KeepPolicy) -> set[SnapshotRef]:
    """Given one host's snapshots, return those the policy keeps (always the newest)."""
    newest_first = sorted(refs, reverse=True)
    keep = set(newest_first[:1]) | set(newest_first[: policy.last])
    for period, count in (
        ("daily", policy.daily),
        ("weekly", policy.weekly),
        ("monthly", policy.monthly),
    ):
        seen: set[str] = set()
        for ref in newest_first:
            if len(seen) >= count:
                break
            bucket = _BUCKETS[period](_snapshot_time(ref))
            if bucket not in seen:
                seen.add(bucket)
                keep.add(ref)
    return keep


def forget(
    repository: Repository, policy: KeepPolicy, host: str | None, dry_run: bool = False
) -> ForgetReport:
    """Apply ``policy`` to every host's snapshots (or ``host``'s); return what happened."""
    policy.check()
    report = ForgetReport()
    refs = repository.snapshot_refs(host)
    for host_name in sorted({ref.host for ref in refs}):
        mine = [ref for ref in refs if ref.host == host_name]
        keep = snapshots_to_keep(mine, policy)
        for ref in mine:
            label = f"{ref.host}/{ref.id}"
            if ref in keep:
                report.kept.append(label)
                continue
            try:
                if not dry_run:
                    repository.store.delete(manifest_name(ref.host, ref.id))
                report.removed.append(label)
            except ObjectLocked:
                report.locked.append(label)
    return report
