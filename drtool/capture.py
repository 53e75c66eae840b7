"""Staged artifacts on disk: a snapshot's, fetched and verified for a restore, and the rollback
point captured before a restore changes anything. Both are tar parts and a record in a private
(0700) directory, so that --resume and --rollback need neither the repository nor the process
that wrote them."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from drtool.archive import check_entries, write_parts
from drtool.collectors import Collector
from drtool.errors import IntegrityError
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.repository import Repository
from drtool.snapshot import ArtifactRecord, artifact_record_from_json


def capture(host: Host, collector: Collector, directory: Path) -> StagedArtifact:
    """Read ``collector``'s kind from the host into ``directory``; return it as staged."""
    artifact = collector.collect(host)
    paths = []
    for index, part in enumerate(write_parts(artifact.entries, host.root, artifact.outputs)):
        path = directory / f"{artifact.kind}-{index:04d}.tar"
        with part, path.open("wb") as output:
            shutil.copyfileobj(part, output)
        paths.append(path)
    record = artifact.record()
    save_record(directory, record)
    return StagedArtifact(record, tuple(paths))


def save_record(directory: Path, record: ArtifactRecord) -> None:
    """Keep an artifact's record beside its tar parts, for load_staged after a crash."""
    (directory / f"{record.kind}.json").write_text(json.dumps(asdict(record)))


def load_staged(directory: Path, kind: str) -> StagedArtifact:
    """The staged artifact (snapshot or rollback point) of ``kind`` kept in ``directory``."""
    path = directory / f"{kind}.json"
    try:
        document = json.loads(path.read_text())
    except ValueError:
        raise IntegrityError(f"{path} is not readable JSON") from None
    record = artifact_record_from_json(document, str(path))
    return StagedArtifact(record, tuple(sorted(directory.glob(f"{kind}-*.tar"))))


def stage_artifact(repository: Repository, record: ArtifactRecord, staging: Path) -> StagedArtifact:
    """Decrypt and verify every part of ``record`` into ``staging``, then check every entry.

    Raise IntegrityError for a missing or damaged object, UnsafeArchive for an entry that could
    escape its roots. Only the private staging directory is written.
    """
    paths = []
    for index, part in enumerate(record.parts):
        path = staging / f"{record.kind}-{index:04d}.tar"
        with path.open("wb") as output:
            for block in repository.read_part(record.kind, part.id, part.size):
                output.write(block)
        paths.append(path)
    staged = StagedArtifact(record, tuple(paths))
    check_entries([entry for _, _, entry in staged.members()], record.roots)
    staged.outputs()  # raises UnsafeArchive on an invalid output name
    save_record(staging, record)
    return staged
