"""What a restore of a snapshot onto a host would do, shared by restore, ``--dry-run`` and drill.

A plan is decided before anything is fetched: the snapshot's kinds in restore order, those the
snapshot lacks (absent), and those left out with a reason (skipped: live state where no service
is managed, a tool that is not installed, …). Staging then fetches, verifies and checks every
object of the planned kinds into a private directory, and validation runs each service's own
tool on what was staged. Nothing here writes on the host.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drtool.blob_reader import declared_size
from drtool.capture import stage_artifact
from drtool.collectors import Collector
from drtool.config import RestorePolicy
from drtool.disk_room import require_room
from drtool.errors import DrtoolError, UnsupportedFormat, UsageError
from drtool.host import Host
from drtool.hostpath import relative_host_path
from drtool.install import StagedArtifact
from drtool.own_files import DEFAULT_OWN_ROOTS
from drtool.repository import Repository
from drtool.roots import check_roots
from drtool.snapshot import ArtifactRecord, Manifest
from drtool.validation import validate_all

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """The kinds to restore, in order; what is left out, and why; once staged, their copies."""

    chosen: list[tuple[Collector, ArtifactRecord]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # kind -> why
    staged: list[tuple[Collector, StagedArtifact]] = field(default_factory=list)
    keep_setid: bool = False  # [restore] keep_setid: files keep the snapshot's set-id bits
    snapshot_host: str = ""  # the host whose snapshot this is (format 2 checks blob ids)

    @property
    def roots(self) -> dict[str, list[str]]:
        """Kind -> the host paths the restore replaces (each root it installs)."""
        return {
            record.kind: [f"/{root}" for root in record.roots if root not in record.missing]
            for _, record in self.chosen
        }

    @property
    def kinds(self) -> list[str]:
        return [collector.kind for collector, _ in self.chosen]

    def skipped_text(self) -> list[str]:
        return [f"{kind} ({why})" for kind, why in self.skipped.items()]


def make_plan(
    manifest: Manifest,
    collectors: Sequence[Collector],
    only: Collection[str] | None,
    host: Host,
    policy: RestorePolicy | None = None,
) -> Plan:
    """Decide what restoring ``manifest`` onto ``host`` does; raise UsageError for a bad
    ``--only``, UnsupportedFormat for a kind this drtool does not know, UnsafeArchive for a
    root the restoring host does not give the kind (drtool.roots)."""
    policy = policy or RestorePolicy()
    plan = Plan(keep_setid=policy.keep_setid, snapshot_host=manifest.host)
    for collector, record in _ordered(manifest, collectors, only):
        reason = skip_reason(collector, host)
        if not record.present:
            plan.absent.append(record.kind)
        elif reason:
            plan.skipped[record.kind] = reason
            log.info("%s: skipped: %s", record.kind, reason)
        else:
            plan.chosen.append((collector, record))
    check_plan_roots(plan.chosen, collectors, policy)
    return plan


def refuse_foreign_roots(
    manifest: Manifest, collectors: Sequence[Collector], policy: RestorePolicy | None
) -> None:
    """Refuse (UnsafeArchive) a snapshot holding a root this host does not give its kind."""
    check_plan_roots(
        [pair for pair in _ordered(manifest, collectors, None) if pair[1].present],
        collectors,
        policy or RestorePolicy(),
    )


def check_plan_roots(
    chosen: Sequence[tuple[Collector, ArtifactRecord]],
    collectors: Sequence[Collector],
    policy: RestorePolicy,
) -> None:
    """Refuse a snapshot whose roots are not the restoring host's (UnsafeArchive)."""
    included = {relative_host_path(path) for path in policy.include_roots}
    for collector, record in chosen:
        others: dict[str, set[str]] = {}
        for other in collectors:
            others.setdefault(other.kind, set()).update(other.roots)
        for other, item in chosen:
            others[other.kind].update(item.roots)
        del others[collector.kind]
        check_roots(
            collector.kind,
            record.roots,
            {*collector.roots, *included},
            others,
            (*policy.own_files, *DEFAULT_OWN_ROOTS),
        )


def _ordered(
    manifest: Manifest, collectors: Sequence[Collector], only: Collection[str] | None
) -> list[tuple[Collector, ArtifactRecord]]:
    """The snapshot's kinds to restore, in restore order."""
    by_kind = {collector.kind: collector for collector in collectors}
    for record in manifest.artifacts:
        if record.kind not in by_kind:
            raise UnsupportedFormat(
                f"snapshot {manifest.id} holds kind {record.kind!r}, unknown to this drtool"
            )
    recorded = {record.kind for record in manifest.artifacts}
    for kind in only or ():
        if kind not in recorded:
            raise UsageError(f"snapshot {manifest.id} holds no {kind!r} configuration")
    order = {collector.kind: index for index, collector in enumerate(collectors)}
    chosen = [record for record in manifest.artifacts if not only or record.kind in only]
    chosen.sort(key=lambda record: order[record.kind])
    return [(by_kind[record.kind], record) for record in chosen]


def skip_reason(collector: Collector, host: Host) -> str | None:
    """Why ``collector``'s kind is left out of a restore onto ``host`` (None: it is not)."""
    if collector.live_state and not host.manages_services:
        return "live state, and this restore manages no services (--target, sandbox)"
    return collector.unavailable_reason(host)


def stage_plan(repository: Repository, plan: Plan, directory: Path) -> Plan:
    """Fetch, verify and check every planned kind into ``directory``; return ``plan``. Refuse
    (NoRoom) a snapshot whose declared size does not fit there, before writing anything."""
    declared = sum(
        declared_size(repository, plan.snapshot_host, record) for _, record in plan.chosen
    )
    require_room(directory, declared, "the snapshot")
    plan.staged = [
        (
            collector,
            stage_artifact(repository, record, directory, plan.keep_setid, host=plan.snapshot_host),
        )
        for collector, record in plan.chosen
    ]
    return plan


def validate_plan(host: Host, plan: Plan, rebuilt_host: bool = False) -> None:
    """Run every staged kind's own check, all kinds in one view of the whole snapshot; raise
    ValidationRefused naming every finding."""
    if not host.manages_services:
        log.info(
            "a sandbox root: files only, services neither checked nor restarted "
            "(--services to manage the sandbox's own)"
        )
        return
    validate_all(host, plan.staged, rebuilt_host)


def describe_error(error: BaseException) -> str:
    """One line for an error: an OSError as its reason and file, anything else as itself."""
    if isinstance(error, OSError) and not isinstance(error, DrtoolError):
        reason = "disk full" if error.errno == errno.ENOSPC else error.strerror or str(error)
        return f"{reason}: {error.filename}" if error.filename else reason
    return str(error)
