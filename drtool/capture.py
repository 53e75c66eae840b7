"""Rollback points: the current state of a kind, captured before a restore changes it, kept as
tar parts and a record on disk (0700), so that a rollback needs neither the repository nor the
process that took it."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from drtool.archive import write_parts
from drtool.collectors import Collector
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.snapshot import ArtifactRecord, PartRef


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
    document = json.loads((directory / f"{kind}.json").read_text())
    parts = tuple(PartRef(**part) for part in document["parts"])
    record = ArtifactRecord(
        **{
            **document,
            "roots": tuple(document["roots"]),
            "missing": tuple(document["missing"]),
            "parts": parts,
        }
    )
    return StagedArtifact(record, tuple(sorted(directory.glob(f"{kind}-*.tar"))))
