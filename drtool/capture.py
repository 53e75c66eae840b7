"""Staged artifacts on disk: a snapshot's, fetched and verified for a restore, and the rollback
point captured before a restore changes anything. Both are tar parts and a record in a private
(0700) directory, so that --resume and --rollback need neither the repository nor the process
that wrote them."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

from drtool.archive import write_parts
from drtool.blob_reader import read_artifact
from drtool.collectors import Collector
from drtool.errors import IntegrityError
from drtool.fsutil import open_private
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.parts import read_part
from drtool.repository import Repository
from drtool.snapshot import ArtifactRecord, artifact_record_from_json

log = logging.getLogger(__name__)


def capture(host: Host, collector: Collector, directory: Path) -> StagedArtifact:
    """Read ``collector``'s kind from the host into ``directory``; return it as staged."""
    artifact = collector.collect(host)
    paths = []
    for index, part in enumerate(write_parts(artifact.entries, host.root, artifact.outputs)):
        path = directory / f"{artifact.kind}-{index:04d}.tar"
        with part, open_private(path) as output:
            shutil.copyfileobj(part, output)
        paths.append(path)
    record = artifact.record()
    save_record(directory, record)
    return StagedArtifact(record, tuple(paths))


def save_record(directory: Path, record: ArtifactRecord) -> None:
    """Keep an artifact's record beside its tar parts, for load_staged after a crash."""
    with open_private(directory / f"{record.kind}.json") as output:
        output.write(json.dumps(asdict(record)).encode())


def load_staged(
    directory: Path, kind: str, keep_setid: bool = True, *, check: bool = True
) -> StagedArtifact:
    """The staged artifact (snapshot or rollback point) of ``kind`` kept in ``directory``, its
    record type-checked as a manifest's and its entries checked again; raise UnsafeArchive as
    staging does. ``check`` False: the caller checked these parts itself (the restore that
    staged them, moments before), and whatever reads them checks what it uses as it reads it
    (install_roots each entry before it writes it, ``outputs`` each name): one parse of every
    header less, a third of a large tree's restore."""
    path = directory / f"{kind}.json"
    try:
        document = json.loads(path.read_text())
    except ValueError:
        raise IntegrityError(f"{path} is not readable JSON") from None
    record = artifact_record_from_json(document, str(path))
    staged = StagedArtifact(record, tuple(sorted(directory.glob(f"{kind}-*.tar"))), keep_setid)
    if check:  # again, as at staging: what is on disk may not be what was checked then
        staged.check()
    return staged


def stage_artifact(
    repository: Repository,
    record: ArtifactRecord,
    staging: Path,
    keep_setid: bool = True,
    *,
    host: str,
) -> StagedArtifact:
    """Decrypt and verify every part of ``record`` into ``staging``, then check every entry.

    Raise IntegrityError for a missing or damaged object, UnsafeArchive for an entry that could
    escape its roots. Only the private staging directory is written. ``keep_setid`` False: the
    files lose their set-id bits (StagedArtifact), with a warning. ``host`` is the snapshot's
    (format 2 checks each blob's id under that host's key).
    """
    paths = []
    for index, part in enumerate(record.parts):
        path = staging / f"{record.kind}-{index:04d}.tar"
        with open_private(path) as output:
            for block in read_part(repository, record.kind, part.id, part.size):
                output.write(block)
        paths.append(path)
    if record.lists:
        path = staging / f"{record.kind}-0000.tar"
        with open_private(path) as output:
            for block in read_artifact(repository, host, record):
                output.write(block)
        paths.append(path)
    staged = StagedArtifact(record, tuple(paths), keep_setid)
    setid = staged.check(refuse_linked_roots=True)
    if setid and not keep_setid:
        log.warning(
            "%s: set-uid/set-gid bits dropped from %d file(s), e.g. /%s "
            "([restore] keep_setid = true keeps them)",
            record.kind,
            len(setid),
            setid[0],
        )
    save_record(staging, record)
    return staged
