"""Restore: fetch and verify every artifact into a private staging area, check every entry,
and only then install, kind by kind in restore order.

The staging, checking and ordering are the skeleton of the full engine (validate with the real
tools, capture, restart, health-check, roll back), which grows here.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from drtool.archive import check_entries
from drtool.collectors import Collector
from drtool.errors import (
    DrtoolError,
    RestoreFailed,
    UnsupportedFormat,
    UsageError,
    ValidationRefused,
)
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.repository import Repository
from drtool.snapshot import ArtifactRecord, Manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreResult:
    snapshot_id: str
    restored: tuple[str, ...]
    absent: tuple[str, ...]
    skipped: tuple[str, ...] = ()


def restore_snapshot(
    repository: Repository,
    manifest: Manifest,
    host: Host,
    collectors: Sequence[Collector],
    only: Collection[str] | None = None,
) -> RestoreResult:
    """Restore ``manifest`` onto ``host``: stage and verify everything, validate everything,
    and only then apply in order, restart and health-check.

    Raise ValidationRefused (nothing changed) or RestoreFailed (the host was changed).
    """
    plan = _plan(manifest, collectors, only)
    restored, absent, skipped = [], [], []
    staging = Path(tempfile.mkdtemp(prefix="drtool-stage-"))
    try:
        staged: list[tuple[Collector, StagedArtifact]] = []
        for collector, record in plan:
            reason = collector.unavailable_reason(host)
            if collector.live_state and not host.manages_services:
                reason = "live state, and this restore manages no services (--target, sandbox)"
            if not record.present:
                absent.append(record.kind)
            elif reason:
                skipped.append(f"{record.kind} ({reason})")
                log.warning("%s: skipped: %s", record.kind, reason)
            else:
                staged.append((collector, stage_artifact(repository, record, staging)))
        if not host.manages_services:
            log.warning(
                "a sandbox root: files only, services neither checked nor restarted "
                "(--services to manage the sandbox's own)"
            )
        checked = staged if host.manages_services else []
        findings = [
            finding
            for collector, artifact in checked
            for finding in collector.validate(host, artifact)
        ]
        if findings:
            raise ValidationRefused(
                f"validation refused the snapshot, nothing changed: {'; '.join(findings)}"
            )
        for collector, artifact in staged:
            _step(f"{artifact.record.kind}: apply", collector.apply, host, artifact)
            restored.append(artifact.record.kind)
        for collector, artifact in checked:
            _step(f"{artifact.record.kind}: restart", collector.restart, host)
            problems = collector.healthcheck(host, artifact)
            if problems:
                raise RestoreFailed(
                    f"{artifact.record.kind}: health check failed after the restore of "
                    f"{', '.join(restored)}: {'; '.join(problems)}"
                )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(manifest.id, tuple(restored), tuple(absent), tuple(skipped))


def _step(label: str, action: Callable[..., None], *arguments: object) -> None:
    """Run one live step; a failure names the step (no rollback yet: issue 6)."""
    try:
        action(*arguments)
    except DrtoolError as error:
        raise RestoreFailed(f"{label} failed, the host may be partly restored: {error}") from None
    log.info("%s: done", label)


def _plan(
    manifest: Manifest, collectors: Sequence[Collector], only: Collection[str] | None
) -> list[tuple[Collector, ArtifactRecord]]:
    by_kind = {collector.kind: collector for collector in collectors}
    for record in manifest.artifacts:
        if record.kind not in by_kind:
            raise UnsupportedFormat(
                f"snapshot {manifest.id} holds kind {record.kind!r}, unknown to this drtool"
            )
    if only:
        recorded = {record.kind for record in manifest.artifacts}
        for kind in only:
            if kind not in recorded:
                raise UsageError(f"snapshot {manifest.id} holds no {kind!r} configuration")
    order = {collector.kind: index for index, collector in enumerate(collectors)}
    chosen = [record for record in manifest.artifacts if not only or record.kind in only]
    chosen.sort(key=lambda record: order[record.kind])
    return [(by_kind[record.kind], record) for record in chosen]


def stage_artifact(repository: Repository, record: ArtifactRecord, staging: Path) -> StagedArtifact:
    """Decrypt and verify every part of ``record`` into ``staging``, then check every entry.

    Raise IntegrityError for a missing or damaged object, UnsafeArchive for an entry that could
    escape its roots. Only the private staging directory is written.
    """
    paths = []
    for index, part in enumerate(record.parts):
        path = staging / f"{record.kind}-{index:04d}.tar"
        with path.open("wb") as output:
            for block in repository.read_part(record.kind, part.id):
                output.write(block)
        paths.append(path)
    staged = StagedArtifact(record, tuple(paths))
    check_entries([entry for _, _, entry in staged.members()], record.roots)
    staged.outputs()  # raises UnsafeArchive on an invalid output name
    return staged
