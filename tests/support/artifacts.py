"""An artifact's tar bytes read from, and written into, a repository of either format, with
drtool's own format code — as any holder of the passphrase can: the hostile snapshots of the
tests are written this way."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

from drtool.archive import FileEntry, read_members
from drtool.blob_lists import encode_lists, list_kind
from drtool.blob_reader import read_artifact
from drtool.blobs import blob_id, chunk_boundaries
from drtool.packs import PackWriter, pack_name
from drtool.parts import read_part, store_part
from drtool.repository import Repository
from drtool.snapshot import ArtifactRecord, Manifest, SnapshotRef
from drtool.tarread import opened_part
from drtool.tombstones import write_tombstone


def artifact_tar(repository: Repository, host: str, record: ArtifactRecord) -> bytes:
    """The tar stream of ``record``, as its snapshot holds it."""
    if repository.format >= 2:
        return b"".join(read_artifact(repository, host, record))
    return b"".join(
        block
        for part in record.parts
        for block in read_part(repository, record.kind, part.id, part.size)
    )


def with_tar(
    repository: Repository, host: str, record: ArtifactRecord, tar: bytes
) -> ArtifactRecord:
    """``record`` holding the tar stream ``tar`` instead, stored as ``host``'s."""
    if repository.format < 2:
        part = store_part(repository, record.kind, io.BytesIO(tar), {}, host=host)
        return dataclasses.replace(record, parts=(part,), size=part.size)
    id_key = repository.key.content_id_key(host)
    writer = PackWriter(repository.key, repository.repository_id, host)

    def put(kind: str, plaintext: bytes):
        return writer.add(kind, blob_id(id_key, kind, plaintext), plaintext)

    pieces = [tar[start:end] for start, end in chunk_boundaries(tar)] if tar else []
    refs = [put(record.kind, piece) for piece in pieces]
    lists = [put(list_kind(record.kind), plaintext) for plaintext in encode_lists(refs)]
    repository.store.put(pack_name(writer.pack_id), [writer.finish()])
    return dataclasses.replace(record, parts=(), lists=tuple(lists), size=len(tar))


def new_record(
    repository: Repository, host: str, kind: str, roots: tuple[str, ...], tar: bytes, entries: int
) -> ArtifactRecord:
    """A present artifact of ``kind`` with ``roots``, holding the tar stream ``tar``."""
    record = ArtifactRecord(kind, True, roots, entries=entries)
    return with_tar(repository, host, record, tar)


def forget_one(repository: Repository, manifest: Manifest) -> None:
    """What `drtool forget` does to one snapshot, whatever its policy would keep: its tombstone,
    then its manifest deleted."""
    ref = SnapshotRef(manifest.id, manifest.host)
    write_tombstone(repository, ref)
    repository.store.delete(f"snapshots/{ref.host}/{ref.id}")


def members_at(path: Path) -> list[tuple[tarfile.TarInfo, FileEntry]]:
    """Every member of the tar part at ``path`` and its entry, read whole (a restore streams
    them: archive.read_members)."""
    with opened_part(path) as part:
        return list(read_members(part))
