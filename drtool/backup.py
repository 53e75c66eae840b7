"""A backup: every collector's artifact into content-addressed parts, then the manifest, last."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta

from drtool import __version__
from drtool.archive import write_parts
from drtool.blob_backup import PackedBackup
from drtool.chain import previous_snapshot
from drtool.collect_ahead import collecting
from drtool.collectors import Artifact, Collector
from drtool.errors import DrtoolError, StateDamaged
from drtool.host import Host
from drtool.lock import waiting_lock
from drtool.opening import Opening, unlocked
from drtool.packs import host_tag
from drtool.parts import store_part
from drtool.repository import Repository, Retention
from drtool.seen import SeenState
from drtool.snapshot import ArtifactRecord, Manifest, PartRef, SnapshotRef, new_snapshot_id
from drtool.survey import survey
from drtool.timeutil import iso, utc_now
from drtool.writer_stamps import save_stamps

log = logging.getLogger(__name__)

# How long an unattended backup (a restore's pre-restore snapshot, watch) waits for a running
# prune or forget to finish, rather than failing.
WAIT_FOR_PRUNE = timedelta(minutes=10)


def run_backup(
    repository: Repository | Opening,
    host: Host,
    collectors: Sequence[Collector],
    tags: Sequence[str] = (),
    now: datetime | None = None,
    pre_restore: bool = False,
    lock_wait: timedelta = timedelta(0),
) -> Manifest:
    """Collect every kind from ``host`` and commit one snapshot; return its manifest.

    A backup that writes objects or packs holds a shared lock from before its first write to
    its manifest (waiting up to ``lock_wait`` for a prune or a forget to finish): no prune may
    delete what it wrote, or (format 1) the objects it reuses, before its manifest names them.
    A format-2 backup reuses only the blobs of the host's newest snapshot, which forget always
    keeps and prune only moves (behind a relocation record), and checks that their packs are
    there in the same listing that finds that snapshot: an unchanged backup, which writes its
    manifest only, takes no lock. Raise RepositoryLocked when the wait runs out.

    A repository still being opened (drtool/opening.py) derives its key while this module and
    the collectors' load; the collectors start once it opened, not beside it: Argon2id's 64 MiB
    and the collectors' working set at once took the large host's peak past 100 MiB (bench/),
    for a few percent of wall time. Nothing is read from or written to the repository before."""
    moment = now or utc_now()
    repository = unlocked(repository)
    with ExitStack() as held:
        # Read the host meanwhile: its commands (iptables-save) wait on other cores.
        artifacts = held.enter_context(collecting(collectors, host))
        retention = repository.settings().retention(moment)
        seen = _seen_state(repository, host)
        lock = _SharedLock(held, repository, host.name, lock_wait)
        packed = None
        if repository.format >= 2:
            found = repository.survey or survey(
                repository.store, host.name, host_tag(repository.key, host.name)
            )
            previous = found.snapshot_refs
            packed = PackedBackup(repository, host, previous, retention, found, lock)
        else:
            lock()
            previous = repository.snapshot_refs(host.name)
        known = _parts_of_previous_snapshot(repository, previous) if packed is None else {}
        records = []
        for collector, artifact in artifacts:
            if collector.warn_if_missing and not pre_restore:
                for root in artifact.missing:
                    log.warning("%s: /%s does not exist: not in this snapshot", artifact.kind, root)
            if packed is None:
                records.append(_store_artifact(repository, host, artifact, known, retention))
            else:
                records.append(packed.store(artifact))
            log.info("%s: %s", artifact.kind, _describe(records[-1]))
            del artifact  # stored: its listing goes before the next kind is waited for
        if packed is not None:
            packed.finish()
        manifest = Manifest(
            id=new_snapshot_id(moment, pre_restore),
            host=host.name,
            time=iso(moment),
            tags=tuple(tags),
            drtool_version=__version__,
            artifacts=tuple(records),
            retain_until=iso(retention.required) if retention else None,
            previous=previous_snapshot(
                previous, seen.newest_of(host.name) if seen else None, moment
            ),
        )
        repository.write_manifest(manifest)
        if packed is not None:
            packed.commit(manifest.id)
            save_stamps(repository, host, manifest.id)
    if seen is not None:
        seen.saw(host.name, manifest.id)
        seen.save()
    return manifest


class _SharedLock:
    """The backup's shared lock, taken once, when first asked for, and held by ``stack``."""

    def __init__(
        self, stack: ExitStack, repository: Repository, host: str, wait: timedelta
    ) -> None:
        self._stack, self._repository, self._host, self._wait = stack, repository, host, wait
        self._held = False

    def __call__(self) -> None:
        if not self._held:
            store = self._repository.store
            self._stack.enter_context(
                waiting_lock(store, "backup", self._host, self._wait, shared=True)
            )
            self._held = True


def _seen_state(repository: Repository, host: Host) -> SeenState | None:
    """This host's memory of its snapshots. A damaged one does not stop the backup: it is left
    as it is, for the next reader to refuse (exit 55), and the listing alone names the previous
    snapshot."""
    try:
        return SeenState.load(host, repository.repository_id)
    except StateDamaged as error:
        log.warning("%s", error)
        return None


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
                    store_part(repository, artifact.kind, part, known, retention, host=host.name)
                )
    return artifact.record(tuple(parts))


def _parts_of_previous_snapshot(
    repository: Repository, refs: list[SnapshotRef]
) -> dict[str, PartRef]:
    """The parts the host's latest snapshot (the last of ``refs``) references: no need to ask
    the store about them.

    forget always keeps each host's newest snapshot, so these cannot be pruned under us.
    """
    if not refs or not repository.key.can_read:  # a writer cannot read its past
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
    stored = f"{len(record.lists)} blob list(s)" if record.lists else f"{len(record.parts)} part(s)"
    return f"{record.entries} entries, {record.size} bytes, {stored}"
