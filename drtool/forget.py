"""forget: apply a retention policy (drtool.retention) and remove the manifests it does not keep,
each after its signed tombstone (drtool.tombstones), so that readers tell it from a deletion.

Objects are left to prune.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

from drtool.errors import ObjectLocked
from drtool.repository import Repository, manifest_name
from drtool.retention import KeepPolicy, decide
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
    """Apply ``policy`` to every host's snapshots (or ``host``'s); return what happened."""
    policy.check()
    moment = now or utc_now()
    report = ForgetReport()
    refs = repository.snapshot_refs(host)
    for host_name in sorted({ref.host for ref in refs}):
        mine = [ref for ref in refs if ref.host == host_name]
        for decision in reversed(decide(mine, policy, moment)):  # oldest first, as listed
            ref = decision.ref
            label = f"{ref.host}/{ref.id}"
            if decision.keep:
                report.kept.append(label)
                report.reasons[label] = decision.reasons
                continue
            report.reasons[label] = decision.why_not or ["no rule keeps it"]
            try:
                if not dry_run:
                    write_tombstone(repository, ref)
                    repository.store.delete(manifest_name(ref.host, ref.id))
                report.removed.append(label)
            except ObjectLocked:
                # The manifest stays: so need not its tombstone (harmless if a bucket's default
                # retention keeps it too).
                with contextlib.suppress(ObjectLocked):
                    repository.store.delete(tombstone_name(ref.host, ref.id))
                report.locked.append(label)
    return report
