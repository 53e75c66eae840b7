"""Format 2: pack objects, many blobs sealed under one data key, with an encrypted index.

docs/FORMAT.md, section "Packs", is the specification. A pack is written whole (a backup keeps
the one it fills in memory, PACK_TARGET at most, then puts it), so its id is random and known
before its first blob is sealed. Every blob is authenticated with its pack, its kind and its id
as associated data: a blob moved to another pack, or named as another kind or another blob, does
not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from drtool.blobs import MAX_BLOB_SIZE, BlobRef
from drtool.errors import IntegrityError, UnsupportedFormat
from drtool.format import MAGIC, Binding, ObjectType, RepositoryKeys

PACK_TARGET = 4 * 1024 * 1024
PACK_ID_BYTES = 16
HOST_TAG_BYTES = 2  # of the pack id; the other 14 are random
NONCE = 12
TAG = 16
# The most a sealed blob may occupy: zstd's bound for MAX_BLOB_SIZE, nonce and tag, rounded up.
MAX_SEALED_BLOB = MAX_BLOB_SIZE + 64 * 1024
_TRAILER = struct.Struct(">I")
_ENTRY = struct.Struct(">32sIIIB")  # blob id, offset, stored length, plaintext size, kind length
_COUNT = struct.Struct(">I")
_compressor = zstandard.ZstdCompressor(level=3)
_decompressor = zstandard.ZstdDecompressor()


def pack_name(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


def host_tag(keys: RepositoryKeys, host: str) -> str:
    """The 4 hex digits every pack id of ``host`` begins with (docs/FORMAT.md, "Packs"): keyed
    with its content-id key, so the packs of one host sit under one ``packs/<hh>/`` that a
    backup lists (drtool/survey.py), and nobody without the key tells which host they are."""
    digest = hmac.new(keys.content_id_key(host), b"drtool pack tag", hashlib.sha256)
    return digest.hexdigest()[: 2 * HOST_TAG_BYTES]


def _binding(pack_id: str, repository_id: str) -> Binding:
    return Binding(ObjectType.PACK, pack_id, repository_id)


def blob_aad(pack_id: bytes, blob_id: bytes, host: str, kind: str) -> bytes:
    return b"drtool blob\x00" + pack_id + blob_id + host.encode() + b"\x00" + kind.encode()


def _index_aad(pack_id: bytes) -> bytes:
    return b"drtool pack index\x00" + pack_id


@dataclass(frozen=True)
class IndexEntry:
    kind: str
    ref: BlobRef


class PackWriter:
    """One pack being filled: seal blobs into it, then ``finish`` it into its bytes."""

    def __init__(self, keys: RepositoryKeys, repository_id: str, host: str) -> None:
        self._host = host
        tag = bytes.fromhex(host_tag(keys, host))
        self._raw_id = tag + os.urandom(PACK_ID_BYTES - HOST_TAG_BYTES)
        self.pack_id = self._raw_id.hex()
        data_key = os.urandom(32)
        self._cipher = AESGCM(data_key)
        binding = _binding(self.pack_id, repository_id)
        aad = binding.associated_data(keys.object_version)
        self._buffer = bytearray(
            binding.prefix(keys.object_version) + keys.wrap_data_key(data_key, aad)
        )
        self._index: list[IndexEntry] = []

    @property
    def size(self) -> int:
        return len(self._buffer)

    @property
    def empty(self) -> bool:
        return not self._index

    def add(self, kind: str, blob_id: bytes, plaintext: bytes) -> BlobRef:
        nonce = os.urandom(NONCE)
        aad = blob_aad(self._raw_id, blob_id, self._host, kind)
        sealed = nonce + self._cipher.encrypt(nonce, _compressor.compress(plaintext), aad)
        ref = BlobRef(blob_id.hex(), self.pack_id, len(self._buffer), len(sealed), len(plaintext))
        self._buffer += sealed
        self._index.append(IndexEntry(kind, ref))
        return ref

    def finish(self) -> bytes:
        """The whole pack: header, blobs, the sealed index, the index's length."""
        index = bytearray(_COUNT.pack(len(self._index)))
        for entry in self._index:
            kind = entry.kind.encode()
            ref = entry.ref
            index += _ENTRY.pack(bytes.fromhex(ref.id), ref.offset, ref.length, ref.size, len(kind))
            index += kind
        nonce = os.urandom(NONCE)
        sealed = nonce + self._cipher.encrypt(
            nonce, _compressor.compress(bytes(index)), _index_aad(self._raw_id)
        )
        return bytes(self._buffer + sealed + _TRAILER.pack(len(sealed)))


class Pack:
    """A fetched pack, its data key unwrapped: open its blobs, read its index.

    ``data`` is any seekable file holding the whole pack. Every offset and length is checked
    against the pack's own bounds before anything is read: a hostile reference or index costs
    an IntegrityError, never a read outside the pack or an unbounded allocation."""

    def __init__(
        self, keys: RepositoryKeys, repository_id: str, pack_id: str, data: BinaryIO
    ) -> None:
        self.pack_id = pack_id
        self._raw_id = bytes.fromhex(pack_id)
        self._data = data
        version = keys.object_version
        binding = _binding(pack_id, repository_id)
        header_size = len(MAGIC) + 2 + keys.wrapped_size
        data.seek(0, 2)
        self._size = data.tell()
        data.seek(0)
        header = data.read(header_size)
        if len(header) < header_size or self._size < header_size + _TRAILER.size:
            raise self._refused("is not a drtool pack (short)")
        if header[: len(MAGIC)] != MAGIC:
            raise self._refused("is not a drtool pack (bad magic)")
        if header[len(MAGIC)] != version:
            raise UnsupportedFormat(
                f"pack {pack_id[:16]} has object version {header[len(MAGIC)]}, this "
                f"repository's are version {version}"
            )
        if header[: len(MAGIC) + 2] != binding.prefix(version):
            raise self._refused("is an object of another type")
        try:
            data_key = keys.unwrap_data_key(
                header[len(MAGIC) + 2 :], binding.associated_data(version)
            )
        except InvalidTag:
            raise self._refused(
                "failed authentication (damaged, renamed or of another repository)"
            ) from None
        self._cipher = AESGCM(data_key)
        self.header_size = header_size
        data.seek(self._size - _TRAILER.size)
        (index_length,) = _TRAILER.unpack(data.read(_TRAILER.size))
        self.body_end = self._size - _TRAILER.size - index_length
        if index_length < NONCE + TAG or self.body_end < header_size:
            raise self._refused("has an index outside the pack")

    def close(self) -> None:
        self._data.close()

    def _refused(self, why: str) -> IntegrityError:
        return IntegrityError(f"pack {self.pack_id[:16]} {why}; refused")

    def open_blob(self, host: str, kind: str, ref: BlobRef) -> bytes:
        """The plaintext of the blob ``ref`` names, sealed by ``host`` as ``kind`` (its keyed
        id is the caller's to check); raise IntegrityError for any reference outside the pack,
        any size past the limits, any failed authentication or a plaintext of another size."""
        if not (
            self.header_size <= ref.offset
            and NONCE + TAG <= ref.length <= MAX_SEALED_BLOB
            and ref.offset + ref.length <= self.body_end
            and 0 <= ref.size <= MAX_BLOB_SIZE
        ):
            raise self._refused(
                f"is referenced outside its blobs (offset {ref.offset}, length {ref.length}, "
                f"size {ref.size})"
            )
        self._data.seek(ref.offset)
        sealed = self._data.read(ref.length)
        aad = blob_aad(self._raw_id, bytes.fromhex(ref.id), host, kind)
        try:
            compressed = self._cipher.decrypt(sealed[:NONCE], sealed[NONCE:], aad)
        except InvalidTag:
            raise self._refused(
                f"does not hold blob {ref.id[:16]} ({kind}) of host {host} at offset {ref.offset}"
            ) from None
        return _decompress(compressed, ref.size, f"blob {ref.id[:16]} ({kind})")

    def index(self) -> list[IndexEntry]:
        """The pack's index, each entry checked to lie within the blobs, none overlapping."""
        self._data.seek(self.body_end)
        sealed = self._data.read(self._size - _TRAILER.size - self.body_end)
        try:
            compressed = self._cipher.decrypt(
                sealed[:NONCE], sealed[NONCE:], _index_aad(self._raw_id)
            )
        except InvalidTag:
            raise self._refused("has an index that fails authentication") from None
        limit = (self.body_end - self.header_size) // (NONCE + TAG) * (_ENTRY.size + 64) + 4
        index = _decompress(compressed, limit, "index", exact=False)
        entries = _parse_index(index, self)
        end = self.header_size
        for entry in sorted(entries, key=lambda item: item.ref.offset):
            ref = entry.ref
            if ref.offset < end or ref.offset + ref.length > self.body_end:
                raise self._refused("has an index with overlapping or outlying entries")
            if not NONCE + TAG <= ref.length <= MAX_SEALED_BLOB or ref.size > MAX_BLOB_SIZE:
                raise self._refused("has an index entry of impossible size")
            end = ref.offset + ref.length
        return entries


def _parse_index(index: bytes, pack: Pack) -> list[IndexEntry]:
    if len(index) < _COUNT.size:
        raise pack._refused("has a truncated index")
    (count,) = _COUNT.unpack_from(index)
    position = _COUNT.size
    entries = []
    for _ in range(count):
        if position + _ENTRY.size > len(index):
            raise pack._refused("has a truncated index")
        blob_id, offset, length, size, kind_length = _ENTRY.unpack_from(index, position)
        position += _ENTRY.size
        kind = index[position : position + kind_length].decode(errors="replace")
        position += kind_length
        ref = BlobRef(blob_id.hex(), pack.pack_id, offset, length, size)
        entries.append(IndexEntry(kind, ref))
    if position != len(index):
        raise pack._refused("has trailing bytes after its index")
    return entries


def _decompress(compressed: bytes, size: int, what: str, exact: bool = True) -> bytes:
    """Decompress one zstd frame, never past ``size`` bytes (a bomb is refused, not expanded):
    a frame declaring a larger content size is refused before any output is allocated, one
    declaring none gets an output buffer of ``size`` bytes at most."""
    try:
        declared = zstandard.frame_content_size(compressed)
        if declared > size:
            raise IntegrityError(
                f"{what} declares {declared} bytes, more than the {size} expected; refused"
            )
        plain = _decompressor.decompress(compressed, max_output_size=max(size, 1))
    except zstandard.ZstdError as error:
        raise IntegrityError(f"{what} does not decompress: {error}") from None
    if len(plain) > size or (exact and len(plain) != size):
        raise IntegrityError(
            f"{what} decompresses to {'more than ' if len(plain) > size else ''}"
            f"{len(plain)} bytes, not the {size} declared; refused"
        )
    return plain
