"""Format 2: a backup's artifacts stored as deduplicated blobs in packs (docs/FORMAT.md).

A PackedBackup holds what one backup knows is stored (the files cache, else the host's previous
snapshot), seals each new blob into the pack being filled, and puts a pack each PACK_TARGET.
``finish`` puts the last pack and makes sure every pack the snapshot uses is locked long enough;
the manifest is written after it, and ``commit`` then saves the files cache.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from drtool import progress, testpoint
from drtool.archive import EntryType, FileEntry, StatKey, member_header, output_header, stat_key
from drtool.blob_lists import encode_lists, list_kind
from drtool.blob_reader import artifact_blob_refs
from drtool.blobs import END_OF_ARCHIVE, BlobRef, blob_id, member_blobs
from drtool.collectors import Artifact
from drtool.errors import CollectError, DrtoolError
from drtool.files_cache import FilesCache, load_cache, save_cache
from drtool.host import Host
from drtool.packs import PACK_TARGET, PackWriter, pack_name
from drtool.repository import Repository, Retention
from drtool.snapshot import ArtifactRecord, SnapshotRef
from drtool.survey import Survey
from drtool.timeutil import iso, parse_iso

log = logging.getLogger(__name__)


class PackedBackup:
    def __init__(
        self,
        repository: Repository,
        host: Host,
        previous: Sequence[SnapshotRef],
        retention: Retention | None,
        found: Survey,
        before_write: Callable[[], None],
    ) -> None:
        """``previous``: the host's snapshots, oldest first; only the newest one's blobs are
        reused (forget always keeps it, so no prune removes them under an unlocked backup).
        ``found``: the packs (or relocation records) listed: a blob of any other pack is stored
        again. ``before_write`` runs before the first pack is put (it takes the repository's
        shared lock)."""
        self._repository = repository
        self._host = host
        self._root = os.fspath(host.root)  # host.path's, as a string: read for every new file
        self._retention = retention
        self._before_write = before_write
        self._id_key = repository.key.content_id_key(host.name)
        newest = {previous[-1].id} if previous else set()
        self._old = load_cache(host, repository.repository_id, self._id_key, newest)
        if not self._old.blobs and previous:
            self._old.blobs = _blobs_of_snapshot(repository, previous[-1])
        missing = {pack for pack in self._old.drop_missing(found.packs) if found.covers(pack)}
        if missing:
            log.warning(
                "%d pack(s) of snapshot %s are gone from the repository (%s): what they held is "
                "stored again from the live files",
                len(missing),
                previous[-1].id,
                ", ".join(sorted(pack[:16] for pack in missing)[:3]),
            )
        self._known = dict(self._old.blobs)
        self._new = FilesCache(packs=dict(self._old.packs))
        self._writer: PackWriter | None = None
        self._written: set[str] = set()
        self._stored = 0  # bytes of the blobs this backup sealed

    def store(self, artifact: Artifact) -> ArtifactRecord:
        """Store ``artifact``'s tar stream as blobs; return its record (its list blobs)."""
        if not artifact.present:
            return artifact.record()
        kind, before = artifact.kind, self._stored
        refs: list[BlobRef] = []
        for name, content in sorted(artifact.outputs.items()):
            refs += self._member(kind, output_header(name, len(content)), content)
        for entry in artifact.entries:
            refs += self._entry(kind, entry)
        refs += self._member(kind, b"", END_OF_ARCHIVE)
        lists = [self._put(list_kind(kind), plaintext) for plaintext in encode_lists(refs)]
        for ref in (*refs, *lists):
            self._new.blobs[ref.id] = ref
        outputs = sum(len(content) for content in artifact.outputs.values())
        return replace(
            artifact.record(), lists=tuple(lists), stored=self._stored - before, outputs=outputs
        )

    def _entry(self, kind: str, entry: FileEntry) -> list[BlobRef]:
        """The blobs of ``entry``'s member: the cached ones if the file, directory or link is
        as it was (its stat agrees with the cache and with the entry listed), else new."""
        key = entry.seen or _lstat(self._host.path(entry.path), entry)
        refs = self._old.take(kind, entry.path, key)
        if not _agrees(key, entry):
            refs = None
        if refs is None:
            is_file = entry.type is EntryType.FILE
            data = _read_file(f"{self._root}/{entry.path}", entry) if is_file else b""
            refs = self._member(kind, member_header(entry), data)
        else:
            progress.advance(entry.size)
        self._new.remember(kind, entry.path, key, refs)
        return refs

    def _member(self, kind: str, header: bytes, data: bytes) -> list[BlobRef]:
        progress.advance(len(data))
        return [self._put(kind, blob) for blob in member_blobs(header, data)]

    def _put(self, kind: str, plaintext: bytes) -> BlobRef:
        identifier = blob_id(self._id_key, kind, plaintext)
        known = self._known.get(identifier.hex())
        if known is not None:
            return known
        if self._writer is None:
            self._writer = PackWriter(
                self._repository.key, self._repository.repository_id, self._host.name
            )
        ref = self._writer.add(kind, identifier, plaintext)
        self._known[ref.id] = ref
        self._stored += ref.length
        if self._writer.size >= PACK_TARGET:
            self._flush()
        return ref

    def _flush(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None or writer.empty:
            return
        self._before_write()
        until = self._retention.extended if self._retention else None
        self._repository.store.put(pack_name(writer.pack_id), [writer.finish()], until)
        self._written.add(writer.pack_id)
        self._new.packs[writer.pack_id] = iso(until) if until else None
        testpoint.reached("backup:object-stored")

    def finish(self) -> None:
        """Put the last pack; extend the lock of every reused pack whose lock ends too early."""
        self._flush()
        used = {ref.pack for ref in self._new.blobs.values()}
        self._new.packs = {pack: self._new.packs.get(pack) for pack in used}
        if self._retention is None:
            return
        for pack in sorted(used - self._written):
            self._new.packs[pack] = iso(self._lock(pack, self._new.packs[pack]))

    def _lock(self, pack: str, cached: str | None) -> datetime:
        retention = self._retention
        assert retention is not None
        if cached and retention.is_met_by(parse_iso(cached)):
            return parse_iso(cached)
        until = self._repository.store.stat(pack_name(pack)).retain_until
        if retention.is_met_by(until):
            assert until is not None
            return until
        self._repository.store.extend_retention(pack_name(pack), retention.extended)
        return retention.extended

    def commit(self, snapshot_id: str) -> None:
        """Save the files cache once the manifest naming ``snapshot_id`` is written."""
        self._new.snapshot_id = snapshot_id
        try:
            save_cache(self._host, self._repository.repository_id, self._id_key, self._new)
        except OSError as error:
            log.warning("files cache not saved (%s): the next backup reads every file", error)


def _agrees(key: StatKey, entry: FileEntry) -> bool:
    """Whether the stat ``key`` describes what ``entry`` lists (and its tar header holds)."""
    size, mtime_ns, _ctime_ns, _inode, mode, uid, gid = key
    return (size == entry.size or entry.type is not EntryType.FILE) and (
        mtime_ns,
        stat.S_IMODE(mode),
        uid,
        gid,
    ) == (entry.mtime_ns, entry.mode, entry.uid, entry.gid)


def _lstat(path: Path, entry: FileEntry) -> StatKey:
    try:
        return stat_key(os.lstat(path))
    except OSError as error:
        raise CollectError(f"cannot read /{entry.path}: {error.strerror or error}") from None


def _read_file(path: str, entry: FileEntry) -> bytes:
    """The first ``entry.size`` bytes of the file, as tar would store them."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(descriptor, entry.size)  # one read, unless the kernel splits it
            while 0 < len(data) < entry.size and (
                more := os.read(descriptor, entry.size - len(data))
            ):
                data += more
        finally:
            os.close(descriptor)
    except OSError as error:
        raise CollectError(f"cannot read /{entry.path}: {error.strerror or error}") from None
    if len(data) != entry.size:
        raise CollectError(f"cannot read /{entry.path}: it shrank (did it change during backup?)")
    return data


def _blobs_of_snapshot(repository: Repository, ref: SnapshotRef) -> dict[str, BlobRef]:
    """Every blob the snapshot ``ref`` uses (without a files cache, what can be reused); empty
    where it cannot be read (a write-only host, a damaged snapshot)."""
    try:
        manifest = repository.read_manifest(ref)
        blobs = {}
        for record in manifest.artifacts:
            for blob in (*record.lists, *artifact_blob_refs(repository, ref.host, record)):
                blobs[blob.id] = blob
        return blobs
    except DrtoolError as error:
        log.info("previous snapshot %s not reused (%s): every blob is stored again", ref.id, error)
        return {}
