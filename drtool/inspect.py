"""What a snapshot holds, for `drtool show`: its manifest and every entry of every artifact."""

from __future__ import annotations

import stat
import tarfile
import tempfile
from typing import Any

from drtool.archive import EntryType, FileEntry, read_members
from drtool.repository import Repository
from drtool.snapshot import Manifest

_TYPE_LETTER = {EntryType.FILE: "-", EntryType.DIRECTORY: "d", EntryType.SYMLINK: "l"}


def snapshot_contents(repository: Repository, manifest: Manifest) -> dict[str, Any]:
    """Return the manifest's summary with, per kind, its entries (read from the objects)."""
    artifacts = []
    for record in manifest.artifacts:
        entries = [
            _describe(entry)
            for part in record.parts
            for entry in _part_entries(repository, record.kind, part.id)
        ]
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
                "entries": entries,
            }
        )
    return {**manifest.summary(), "drtool_version": manifest.drtool_version, "artifacts": artifacts}


def _part_entries(repository: Repository, kind: str, object_id: str) -> list[FileEntry]:
    with tempfile.TemporaryFile() as spool:
        for block in repository.read_part(kind, object_id):
            spool.write(block)
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r:") as archive:
            return [entry for _, entry in read_members(archive)]


def _describe(entry: FileEntry) -> dict[str, Any]:
    mode = stat.filemode(stat.S_IFMT(0) | entry.mode)[1:]
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
