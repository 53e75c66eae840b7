"""restore --dry-run: the plan (kinds in order, what is left out and why) and the diff of each
kind against the live host. Nothing is written on the host."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from drtool.collectors import Collector
from drtool.diff import Redactor, diff, human, live_artifacts, snapshot_artifacts
from drtool.host import Host
from drtool.repository import Repository
from drtool.restore import plan_kinds, skip_reason
from drtool.snapshot import Manifest
from drtool.validation import snapshot_hooks


def dry_run_plan(
    repository: Repository,
    manifest: Manifest,
    host: Host,
    collectors: Sequence[Collector],
    only: Collection[str] | None,
    redactor: Redactor,
) -> dict[str, Any]:
    chosen = plan_kinds(manifest, collectors, only, host)
    order, absent, skipped = [], [], []
    for collector, record in chosen:
        reason = skip_reason(collector, host)
        if not record.present:
            absent.append(record.kind)
        elif reason:
            skipped.append(f"{record.kind} ({reason})")
        else:
            order.append(collector)
    kinds = [collector.kind for collector in order]
    with tempfile.TemporaryDirectory(prefix="drtool-plan-") as scratch:
        (Path(scratch) / "snapshot").mkdir()
        (Path(scratch) / "live").mkdir()
        wanted = snapshot_artifacts(repository, manifest, kinds, Path(scratch) / "snapshot")
        live = live_artifacts(host, order, Path(scratch) / "live")
        changes = diff(order, live, wanted, redactor)
        hooks = snapshot_hooks(
            [(collector, wanted[collector.kind]) for collector in order if collector.kind in wanted]
        )
    return {
        "snapshot": manifest.id,
        "order": kinds,
        "absent": absent,
        "skipped": skipped,
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
