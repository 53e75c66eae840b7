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

import codecs
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from drtool.archive import StatKey
from drtool.blobs import BlobRef
from drtool.fsutil import make_directory
from drtool.host import Host
from drtool.timeutil import parse_iso

CACHE_DIRECTORY = "var/lib/drtool/cache"
_MAGIC = b"drtool files cache 1\n"
_MAC_LINE = 65  # 64 hex digits and a newline
_BATCH = 1000  # entries encoded at a time
_WINDOW = 1024 * 1024  # bytes read at a time
_HEX = re.compile(r"[0-9a-f]*")

log = logging.getLogger(__name__)


@dataclass
class FilesCache:
    snapshot_id: str | None = None
    files: dict[str, tuple[StatKey, tuple[str, ...]]] = field(default_factory=dict)
    blobs: dict[str, BlobRef] = field(default_factory=dict)
    packs: dict[str, str | None] = field(default_factory=dict)  # pack -> locked until (ISO)

    def take(self, kind: str, path: str, key: StatKey) -> list[BlobRef] | None:
        """The blobs of ``path``'s member in ``kind``'s tar if the file is as cached, else None
        (a path two kinds hold has two entries: a blob's id binds its kind). The entry is
        forgotten: a backup asks once per file, so the old cache shrinks as the new one grows."""
        cached = self.files.pop(_entry_key(kind, path), None)
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
    digest = _mac_of(id_key, repository_id, host_name, what)
    digest.update(payload)
    return digest.hexdigest()


def _mac_of(id_key: bytes, repository_id: str, host_name: str, what: str) -> hmac.HMAC:
    """cache_mac's HMAC before its payload (fed piece by piece by save_cache)."""
    context = f"drtool {what}\x00{repository_id}\x00{host_name}\x00".encode()
    return hmac.new(id_key, context, hashlib.sha256)


def load_cache(host: Host, repository_id: str, id_key: bytes, snapshot_ids: set[str]) -> FilesCache:
    """The host's cache, or an empty one (with a warning) if it is absent, damaged, forged, or
    written for a snapshot that is no longer in the repository.

    The file is read a piece at a time, twice: its MAC first, then, only if it verifies, its
    JSON, parsed entry by entry: neither its bytes nor their text are ever held whole (on a host
    of 200,000 files, 144 MiB of a backup's peak), and nothing unauthenticated is parsed (a
    value the window must keep growing for is scanned again at each growth: a forged cache of
    one 1 GiB string took minutes)."""
    path = cache_path(host, repository_id)
    try:
        with open(path, "rb") as handle:
            magic, mac = handle.read(len(_MAGIC)), handle.readline(_MAC_LINE)
            if magic != _MAGIC or not mac.endswith(b"\n"):
                log.warning("files cache %s is damaged: every file is read again", path)
                return FilesCache()
            digest = _mac_of(id_key, repository_id, host.name, "files cache")
            start = handle.tell()
            while data := handle.read(_WINDOW):
                digest.update(data)
            if not hmac.compare_digest(mac[:-1], digest.hexdigest().encode()):
                log.warning("files cache %s fails authentication: every file is read again", path)
                return FilesCache()
            handle.seek(start)
            try:
                cache: FilesCache | None = _parse(_Reader(handle))
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                cache = None
    except FileNotFoundError:
        return FilesCache()
    except OSError as error:
        log.warning("files cache %s unreadable (%s): every file is read again", path, error)
        return FilesCache()
    if cache is None:
        log.warning("files cache %s is malformed: every file is read again", path)
        return FilesCache()
    if cache.snapshot_id not in snapshot_ids:
        log.info("files cache %s is of a snapshot no longer in the repository", path)
        return FilesCache()
    return cache


def save_cache(host: Host, repository_id: str, id_key: bytes, cache: FilesCache) -> None:
    """Write the cache atomically (a temporary file renamed), 0600 in directories 0700. Not
    synced: a cache a crash truncates fails its MAC and costs re-reading, nothing else."""
    directory = host.path(CACHE_DIRECTORY)
    make_directory(directory, 0o700)
    make_directory(directory / repository_id, 0o700)
    digest = _mac_of(id_key, repository_id, host.name, "files cache")
    descriptor, temporary = tempfile.mkstemp(dir=directory / repository_id, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(_MAGIC + bytes(_MAC_LINE))  # the MAC's place, written once it is known
            for piece in _payload(cache):
                digest.update(piece)
                handle.write(piece)
            handle.seek(len(_MAGIC))
            handle.write(digest.hexdigest().encode() + b"\n")
        os.replace(temporary, directory / repository_id / host.name)
    except BaseException:
        os.unlink(temporary)
        raise


def _payload(cache: FilesCache) -> Iterator[bytes]:
    """The cache's JSON as ``json.dumps(document, separators=(",", ":"))`` writes it, in pieces:
    a large host's whole document is never one string (its copies were a backup's peak)."""
    yield b'{"snapshot":' + _json(cache.snapshot_id) + b',"files":{'
    yield from _json_members((path, [*key, list(ids)]) for path, (key, ids) in cache.files.items())
    yield b'},"blobs":{'
    yield from _json_members(
        (blob, [ref.pack, ref.offset, ref.length, ref.size]) for blob, ref in cache.blobs.items()
    )
    yield b'},"packs":' + _json(cache.packs) + b"}"


def _json_members(items: Iterable[tuple[str, Any]]) -> Iterator[bytes]:
    """The members of a JSON object, ``_BATCH`` at a time, comma-separated."""
    separator, iterator = b"", iter(items)
    while batch := dict(itertools.islice(iterator, _BATCH)):
        yield separator + _json(batch)[1:-1]
        separator = b","


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _hex(value: Any, length: int) -> str:
    if not (isinstance(value, str) and len(value) == length and _HEX.fullmatch(value)):
        raise ValueError(value)
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


def _iso(value: Any) -> str | None:
    if value is not None:
        parse_iso(value)  # raises ValueError (or TypeError) for anything but a time
    return value


def _parse(reader: _Reader) -> FilesCache:
    """The cache from its JSON, as ``_payload`` writes it, read entry by entry (json's own
    scanner for each key and value): the whole document is never built, which took four times
    the file's size in objects on top of the cache's own. Raise ValueError (or TypeError,
    KeyError) for anything else."""
    reader.expect('{"snapshot":')
    snapshot = reader.value()
    if not isinstance(snapshot, str):
        raise ValueError(snapshot)
    reader.expect(',"files":')
    files = {}
    for path, (*key, ids) in reader.members():
        if len(key) != 7 or not isinstance(ids, list):
            raise ValueError(path)
        files[path] = (tuple(_count(item) for item in key), tuple(ids))
    reader.expect(',"blobs":')
    # A pack's id (one per blob) and a blob's (one per file using it) are kept once each.
    pack_ids: dict[str, str] = {}
    blobs = {
        _hex(blob, 64): BlobRef(
            blob,
            pack_ids.setdefault(pack, _hex(pack, 32)),
            _count(offset),
            _count(length),
            _count(size),
        )
        for blob, (pack, offset, length, size) in reader.members()
    }
    for path, (key, ids) in files.items():
        files[path] = (key, tuple(blobs[blob].id for blob in ids))  # KeyError: an unknown blob
    reader.expect(',"packs":')
    packs = {_hex(pack, 32): _iso(until) for pack, until in reader.members()}
    reader.expect("}")
    if not reader.at_end():
        raise ValueError("trailing data")
    return FilesCache(snapshot, files, blobs, packs)


class _Reader:
    """A JSON text read from a file a value at a time, through a window of it. A value is
    scanned again, the window grown, when it reaches the window's end (it may go on past it);
    the window is cut at each refill, so it holds about _WINDOW characters beyond the largest
    single value."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._position = 0  # in the window
        self._ended = False
        self._scan = json.JSONDecoder().scan_once

    def _more(self) -> bool:
        """Read the next piece into the window (dropping what was read); False at the end."""
        if self._ended:
            return False
        data = self._handle.read(_WINDOW)
        self._ended = not data
        self._text = self._text[self._position :] + self._decoder.decode(data, final=not data)
        self._position = 0
        return True

    def _ahead(self, size: int) -> str:
        """At least ``size`` characters from the position, fewer only at the end of the file."""
        while len(self._text) - self._position < size and self._more():
            pass
        return self._text[self._position : self._position + size]

    def expect(self, literal: str) -> None:
        if self._ahead(len(literal)) != literal:
            raise ValueError(f"expected {literal!r}")
        self._position += len(literal)

    def at(self, literal: str) -> bool:
        """Whether ``literal`` comes next (then passed over)."""
        found = self._ahead(len(literal)) == literal
        if found:
            self._position += len(literal)
        return found

    def value(self) -> Any:
        self._ahead(1)
        while True:
            try:
                value, end = self._scan(self._text, self._position)
            except (StopIteration, ValueError):
                if self._more():
                    continue  # a value cut by the window's end
                raise ValueError("no value") from None
            if end < len(self._text) or not self._more():  # "12" at the end may be "123"
                self._position = end
                return value

    def members(self) -> Iterator[tuple[str, Any]]:
        """The members of the object at the position, each read as it is reached."""
        self.expect("{")
        if self.at("}"):
            return
        while True:
            name = self.value()
            if not isinstance(name, str):
                raise ValueError(name)
            self.expect(":")
            yield name, self.value()
            if not self.at(","):
                break
        self.expect("}")

    def at_end(self) -> bool:
        return not self._ahead(1)
