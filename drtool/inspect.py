"""What a snapshot holds, for `drtool show`: per kind its files, its command outputs and what
the collector makes of them (rules per chain, …)."""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drtool.archive import EntryType, FileEntry
from drtool.capture import stage_artifact
from drtool.collectors import Collector
from drtool.repository import Repository
from drtool.snapshot import Manifest

_TYPE_LETTER = {EntryType.FILE: "-", EntryType.DIRECTORY: "d", EntryType.SYMLINK: "l"}


def snapshot_contents(
    repository: Repository, manifest: Manifest, collectors: Sequence[Collector]
) -> dict[str, Any]:
    """Return the manifest's summary with, per kind, its entries and semantic details."""
    by_kind = {collector.kind: collector for collector in collectors}
    artifacts = []
    staging = Path(tempfile.mkdtemp(prefix="drtool-show-"))
    try:
        for record in manifest.artifacts:
            staged = stage_artifact(repository, record, staging, host=manifest.host)
            collector = by_kind.get(record.kind)
            artifacts.append(
                {
                    "kind": record.kind,
                    "present": record.present,
                    "roots": [f"/{root}" for root in record.roots],
                    "missing": [f"/{root}" for root in record.missing],
                    "metadata": record.metadata,
                    "entries_count": record.entries,
                    "size": record.size,
                    "stored_size": record.stored_size,
                    "entries": [_describe(entry) for _, _, entry in staged.members()],
                    "outputs": {name: len(content) for name, content in staged.outputs().items()},
                    # an absent kind holds nothing a collector could describe
                    "details": collector.describe(staged) if collector and record.present else {},
                }
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        **manifest.summary(),
        "drtool_version": manifest.drtool_version,
        "artifacts": artifacts,
    }


def _describe(entry: FileEntry) -> dict[str, Any]:
    mode = stat.filemode(entry.mode)[1:]
    listing = (
        f"{_TYPE_LETTER[entry.type]}{mode} {entry.uid:>5}:{entry.gid:<5} {entry.size:>9}  "
        f"/{entry.path}" + (f" -> {entry.link_target}" if entry.link_target else "")
    )
    return {
        "path": f"/{entry.path}",
        "type": entry.type.value,
        "mode": f"{entry.mode:04o}",
        "uid": entry.uid,
        "gid": entry.gid,
        "size": entry.size,
        "mtime_ns": entry.mtime_ns,
        "link_target": entry.link_target or None,
        "listing": listing,
    }
