"""A backup: every collector's artifact into content-addressed parts, then the manifest, last."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from drtool import __version__
from drtool.archive import write_parts
from drtool.collectors import Artifact, Collector
from drtool.errors import DrtoolError
from drtool.host import Host
from drtool.lock import waiting_lock
from drtool.repository import Repository, Retention, read_config
from drtool.snapshot import ArtifactRecord, Manifest, PartRef, new_snapshot_id
from drtool.timeutil import iso, utc_now

log = logging.getLogger(__name__)

# How long an unattended backup (a restore's pre-restore snapshot, watch) waits for a running
# prune or forget to finish, rather than failing.
WAIT_FOR_PRUNE = timedelta(minutes=10)


def run_backup(
    repository: Repository,
    host: Host,
    collectors: Sequence[Collector],
    tags: Sequence[str] = (),
    now: datetime | None = None,
    pre_restore: bool = False,
    lock_wait: timedelta = timedelta(0),
) -> Manifest:
    """Collect every kind from ``host`` and commit one snapshot; return its manifest.

    The backup holds a shared lock throughout (waiting up to ``lock_wait`` for a prune or a
    forget to finish): it reuses objects already stored, which no prune may delete before its
    manifest names them. Raise RepositoryLocked when the wait runs out."""
    moment = now or utc_now()
    retention = read_config(repository.store).retention(moment)
    with waiting_lock(repository.store, "backup", host.name, lock_wait, shared=True):
        known = _parts_of_previous_snapshot(repository, host.name)
        records = []
        for collector in collectors:
            artifact = collector.collect(host)
            if collector.warn_if_missing and not pre_restore:
                for root in artifact.missing:
                    log.warning("%s: /%s does not exist: not in this snapshot", artifact.kind, root)
            records.append(_store_artifact(repository, host, artifact, known, retention))
            log.info("%s: %s", artifact.kind, _describe(records[-1]))
        manifest = Manifest(
            id=new_snapshot_id(moment, pre_restore),
            host=host.name,
            time=iso(moment),
            tags=tuple(tags),
            drtool_version=__version__,
            artifacts=tuple(records),
            retain_until=iso(retention.required) if retention else None,
        )
        repository.write_manifest(manifest)
    return manifest


def _store_artifact(
    repository: Repository,
    host: Host,
    artifact: Artifact,
    known: dict[str, PartRef],
    retention: Retention | None,
) -> ArtifactRecord:
    parts = []
    if artifact.present:
        for part in write_parts(artifact.entries, host.root, artifact.outputs):
            with part:
                parts.append(
                    repository.store_part(artifact.kind, part, known, retention, host=host.name)
                )
    return artifact.record(tuple(parts))


def _parts_of_previous_snapshot(repository: Repository, host_name: str) -> dict[str, PartRef]:
    """The parts the host's latest snapshot references: no need to ask the store about them.

    forget always keeps each host's newest snapshot, so these cannot be pruned under us.
    """
    if not repository.key.can_read:  # a writer cannot read its past (nor list it for nothing)
        return {}
    refs = repository.snapshot_refs(host_name)
    if not refs:
        return {}
    try:
        manifest = repository.read_manifest(refs[-1])
    except DrtoolError as error:
        log.warning("previous snapshot %s unreadable (%s)", refs[-1].id, error)
        return {}
    return {part.id: part for record in manifest.artifacts for part in record.parts}


def _describe(record: ArtifactRecord) -> str:
    if not record.present:
        return "absent on this host"
    return f"{record.entries} entries, {record.size} bytes, {len(record.parts)} part(s)"
