"""restore --dry-run: the plan (kinds in order, the roots replaced, what is left out and why) and
the diff of each kind against the live host, after the snapshot was staged and validated as the
restore would (ValidationRefused, exit 22, where the restore would be refused). Nothing is
written on the host."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from drtool.collectors import Collector
from drtool.config import RestorePolicy
from drtool.diff import Redactor, diff, human, live_artifacts
from drtool.host import Host
from drtool.plan import make_plan, stage_plan, validate_plan
from drtool.repository import Repository
from drtool.snapshot import Manifest
from drtool.validation import snapshot_hooks


def dry_run_plan(
    repository: Repository,
    manifest: Manifest,
    host: Host,
    collectors: Sequence[Collector],
    only: Collection[str] | None,
    redactor: Redactor,
    policy: RestorePolicy | None = None,
) -> dict[str, Any]:
    plan = make_plan(manifest, collectors, only, host, policy)
    order = [collector for collector, _ in plan.chosen]
    kinds = plan.kinds
    with tempfile.TemporaryDirectory(prefix="drtool-plan-") as scratch:
        (Path(scratch) / "snapshot").mkdir()
        (Path(scratch) / "live").mkdir()
        # Staged and validated as the restore would: a dry run exits 22 where it is refused.
        validate_plan(host, stage_plan(repository, plan, Path(scratch) / "snapshot"))
        wanted = {collector.kind: staged for collector, staged in plan.staged}
        live = live_artifacts(host, order, Path(scratch) / "live")
        changes = diff(order, live, wanted, redactor)
        hooks = snapshot_hooks(
            [(collector, wanted[collector.kind]) for collector in order if collector.kind in wanted]
        )
    return {
        "snapshot": manifest.id,
        "order": kinds,
        "roots": plan.roots,
        "absent": plan.absent,
        "skipped": plan.skipped_text(),
        "services": "validated, restarted and health-checked"
        if host.manages_services
        else "files only",
        "changes": changes,
        "hooks": hooks,
    }


def describe_plan(plan: dict[str, Any]) -> str:
    lines = [
        f"dry run: nothing changed. Restoring {plan['snapshot']} would apply, in order: "
        f"{', '.join(plan['order']) or 'nothing'} ({plan['services']})"
    ]
    lines += [f"  {kind} replaces {', '.join(roots)}" for kind, roots in plan["roots"].items()]
    if plan["absent"]:
        lines.append(f"absent in the snapshot (left alone): {', '.join(plan['absent'])}")
    if plan["skipped"]:
        lines.append(f"skipped: {', '.join(plan['skipped'])}")
    if plan["hooks"]:
        lines.append(
            "hooks (code the snapshot would run; refused unless --allow-hooks): "
            + "; ".join(plan["hooks"])
        )
    lines.append(human(plan["changes"]))
    return "\n".join(lines)
