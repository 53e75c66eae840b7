"""Format 2: the files cache, so that an unchanged file is neither read nor hashed.

One file per (repository, host) under the host root, in ``var/lib/drtool/cache/<repository
id>/<host>`` (directories 0700, file 0600): for each file of the last snapshot, its (size,
mtime_ns, ctime_ns, inode, mode, uid, gid) and the blobs of its tar member; every blob that
snapshot references, with its place; and how long each pack it uses is locked. It is also what
a write-only host deduplicates against, since it cannot read the repository.

It is authenticated with the host's content-id key (HMAC-SHA256) and bound to the repository,
the host and the snapshot it was written for: a damaged, foreign or forged cache, or one whose
snapshot is gone (its packs may be pruned), is ignored, which costs re-uploads, never a wrong
snapshot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from drtool.archive import StatKey
from drtool.blobs import BlobRef
from drtool.fsutil import make_directory
from drtool.host import Host
from drtool.timeutil import parse_iso

CACHE_DIRECTORY = "var/lib/drtool/cache"
_MAGIC = b"drtool files cache 1\n"
_HEX = re.compile(r"[0-9a-f]*")

log = logging.getLogger(__name__)


@dataclass
class FilesCache:
    snapshot_id: str | None = None
    files: dict[str, tuple[StatKey, tuple[str, ...]]] = field(default_factory=dict)
    blobs: dict[str, BlobRef] = field(default_factory=dict)
    packs: dict[str, str | None] = field(default_factory=dict)  # pack -> locked until (ISO)

    def lookup(self, kind: str, path: str, key: StatKey) -> list[BlobRef] | None:
        """The blobs of ``path``'s member in ``kind``'s tar if the file is as cached, else None
        (a path two kinds hold has two entries: a blob's id binds its kind)."""
        cached = self.files.get(_entry_key(kind, path))
        if cached is None or cached[0] != key:
            return None
        return [self.blobs[blob] for blob in cached[1]]

    def remember(self, kind: str, path: str, key: StatKey, refs: Sequence[BlobRef]) -> None:
        self.files[_entry_key(kind, path)] = (key, tuple(ref.id for ref in refs))
        for ref in refs:
            self.blobs[ref.id] = ref

    def drop_missing(self, present: frozenset[str]) -> set[str]:
        """Forget every blob whose pack is not in ``present`` (pack ids with a pack or a
        relocation record) and every entry using one: those files are read and their blobs
        stored again. Return the missing packs' ids."""
        missing = {ref.pack for ref in self.blobs.values()} - present
        if missing:
            self.blobs = {blob: ref for blob, ref in self.blobs.items() if ref.pack in present}
            self.files = {
                path: (key, ids)
                for path, (key, ids) in self.files.items()
                if all(blob in self.blobs for blob in ids)
            }
        return missing


def _entry_key(kind: str, path: str) -> str:
    return f"{kind}:{path}"  # no kind holds a colon


def cache_path(host: Host, repository_id: str) -> os.PathLike[str]:
    return host.path(f"{CACHE_DIRECTORY}/{repository_id}/{host.name}")


def cache_mac(
    id_key: bytes, repository_id: str, host_name: str, payload: bytes, what: str = "files cache"
) -> str:
    """The MAC of a host-side record ``what`` (docs/FORMAT.md, "The files cache")."""
    context = f"drtool {what}\x00{repository_id}\x00{host_name}\x00".encode()
    return hmac.new(id_key, context + payload, hashlib.sha256).hexdigest()


def load_cache(host: Host, repository_id: str, id_key: bytes, snapshot_ids: set[str]) -> FilesCache:
    """The host's cache, or an empty one (with a warning) if it is absent, damaged, forged, or
    written for a snapshot that is no longer in the repository."""
    path = cache_path(host, repository_id)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return FilesCache()
    except OSError as error:
        log.warning("files cache %s unreadable (%s): every file is read again", path, error)
        return FilesCache()
    if not data.startswith(_MAGIC):
        log.warning("files cache %s is damaged: every file is read again", path)
        return FilesCache()
    mac, _, payload = data[len(_MAGIC) :].partition(b"\n")
    if not hmac.compare_digest(mac, cache_mac(id_key, repository_id, host.name, payload).encode()):
        log.warning("files cache %s fails authentication: every file is read again", path)
        return FilesCache()
    try:
        cache = _parse(json.loads(payload))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        log.warning("files cache %s is malformed: every file is read again", path)
        return FilesCache()
    if cache.snapshot_id not in snapshot_ids:
        log.info("files cache %s is of a snapshot no longer in the repository", path)
        return FilesCache()
    return cache


def save_cache(host: Host, repository_id: str, id_key: bytes, cache: FilesCache) -> None:
    """Write the cache atomically (a temporary file renamed), 0600 in directories 0700. Not
    synced: a cache a crash truncates fails its MAC and costs re-reading, nothing else."""
    document = {
        "snapshot": cache.snapshot_id,
        "files": {path: [*key, list(ids)] for path, (key, ids) in cache.files.items()},
        "blobs": {
            blob: [ref.pack, ref.offset, ref.length, ref.size] for blob, ref in cache.blobs.items()
        },
        "packs": cache.packs,
    }
    payload = json.dumps(document, separators=(",", ":")).encode()
    directory = host.path(CACHE_DIRECTORY)
    make_directory(directory, 0o700)
    make_directory(directory / repository_id, 0o700)
    mac = cache_mac(id_key, repository_id, host.name, payload).encode()
    descriptor, temporary = tempfile.mkstemp(dir=directory / repository_id, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(_MAGIC + mac + b"\n" + payload)
        os.replace(temporary, directory / repository_id / host.name)
    except BaseException:
        os.unlink(temporary)
        raise


def _hex(value: Any, length: int) -> str:
    if not (isinstance(value, str) and len(value) == length and _HEX.fullmatch(value)):
        raise ValueError(value)
    return value


def _all_hex(values: Sequence[Any], length: int) -> None:
    """Check every value is ``length`` hex digits: one match over them all (a cache names tens of
    thousands of blobs)."""
    if not all(type(value) is str and len(value) == length for value in values):
        raise ValueError("not hex")
    if not _HEX.fullmatch("".join(values)):
        raise ValueError("not hex")


def _all_counts(values: Sequence[Any]) -> None:
    if not all(type(value) is int and value >= 0 for value in values):  # no bool, no float
        raise ValueError("not a count")


def _iso(value: Any) -> str | None:
    if value is not None:
        parse_iso(value)  # raises ValueError (or TypeError) for anything but a time
    return value


def _parse(document: dict[str, Any]) -> FilesCache:
    """Every field checked, in bulk (a host's cache holds tens of thousands of entries)."""
    places, listed = document["blobs"], document["files"]
    if any(type(value) is not list or len(value) != 4 for value in places.values()):
        raise ValueError("a blob's place is not its pack, offset, length and size")
    if any(type(value) is not list or len(value) != 8 for value in listed.values()):
        raise ValueError("a file's record is not 7 numbers and its blobs")
    _all_hex(list(places), 64)
    blobs = {blob: BlobRef(blob, *place) for blob, place in places.items()}
    _all_hex([ref.pack for ref in blobs.values()], 32)
    _all_counts([number for ref in blobs.values() for number in (ref.offset, ref.length, ref.size)])
    files = {path: (tuple(value[:7]), tuple(value[7])) for path, value in listed.items()}
    _all_counts([number for key, _ in files.values() for number in key])
    if not {blob for _, ids in files.values() for blob in ids} <= blobs.keys():
        raise ValueError("a file names a blob the cache does not place")
    packs = {_hex(pack, 32): _iso(until) for pack, until in document["packs"].items()}
    snapshot = document["snapshot"]
    if not isinstance(snapshot, str):
        raise ValueError(snapshot)
    return FilesCache(snapshot, files, blobs, packs)  # type: ignore[arg-type]
