"""The byte format of a repository object: zstd, then chunked AES-256-GCM (STREAM).

docs/FORMAT.md, section "Framed object", is the specification; this module is its only
implementation. Both directions stream, so memory stays bounded by the chunk size whatever the
object's size, and whatever its compression ratio: decryption never decompresses past the size
its caller declares (a 16 KB object of zeros could otherwise become gigabytes in memory).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, BinaryIO, Protocol

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from drtool.errors import IntegrityError, UnsupportedFormat

MAGIC = b"DRTOOL"
FORMAT_VERSION = 1
CHUNK_SIZE = 1024 * 1024
TAG_SIZE = 16
_PREFIX = 7
# The header of a format-1 object: magic, version, type, key nonce, wrapped key, stream prefix.
HEADER_SIZE = len(MAGIC) + 2 + 12 + 32 + TAG_SIZE + _PREFIX
ZSTD_LEVEL = 3
# The most a sealed in-memory payload (a manifest: a few kilobytes per kind) may decompress to.
MAX_SEALED_SIZE = 16 * 1024 * 1024


class RepositoryKeys(Protocol):
    """What framing needs of a repository's keys: the seam between formats and key hierarchies.

    ``wrap_data_key`` turns an object's random data key into ``wrapped_size`` bytes stored in
    its header; ``unwrap_data_key`` reverses it (a key that can only write raises there).
    ``object_version`` is the format version byte written in the header. ``can_read`` is
    False for a write-only credential. ``content_id_key(host)`` names new content of ``host``;
    ``content_id_keys(host)`` are every key that ever named it (one per keyring generation).
    ``sign_record`` / ``verify_record`` authenticate an operator's record (a tombstone);
    ``verify_record`` raises IntegrityError on a mismatch.
    """

    wrapped_size: int
    object_version: int
    can_read: bool

    def wrap_data_key(self, data_key: bytes, aad: bytes) -> bytes: ...

    def unwrap_data_key(self, wrapped: bytes, aad: bytes) -> bytes: ...

    def content_id_key(self, host: str) -> bytes: ...

    def content_id_keys(self, host: str) -> list[bytes]: ...

    def sign_record(self, message: bytes) -> bytes: ...

    def verify_record(self, message: bytes, signature: bytes) -> None: ...


class ObjectType(IntEnum):
    ARTIFACT_PART = 1
    MANIFEST = 2
    PACK = 3  # format 2 (drtool/packs.py)
    RELOCATION = 4  # format 2 (drtool/relocations.py)
    HOST_HEAD = 7


@dataclass(frozen=True)
class Binding:
    """What an object is and where it belongs; authenticated as associated data."""

    object_type: ObjectType
    first: str
    second: str

    @classmethod
    def artifact_part(cls, object_id: str, kind: str) -> Binding:
        return cls(ObjectType.ARTIFACT_PART, object_id, kind)

    @classmethod
    def manifest(cls, host: str, snapshot_id: str) -> Binding:
        return cls(ObjectType.MANIFEST, host, snapshot_id)

    @classmethod
    def host_head(cls, host: str) -> Binding:
        return cls(ObjectType.HOST_HEAD, host, "head")

    def prefix(self, version: int = FORMAT_VERSION) -> bytes:
        return MAGIC + bytes([version, self.object_type])

    def associated_data(self, version: int = FORMAT_VERSION) -> bytes:
        fields = b"".join(
            struct.pack(">H", len(encoded)) + encoded
            for encoded in (self.first.encode(), self.second.encode())
        )
        return self.prefix(version) + fields


def _chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _with_last_flag(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Yield each chunk with whether it is the final one; an empty input yields one empty chunk."""
    previous: bytes | None = None
    for chunk in chunks:
        if previous is not None:
            yield previous, False
        previous = chunk
    yield (previous if previous is not None else b""), True


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads (sockets, S3 bodies)."""
    parts = []
    remaining = size
    while remaining:
        data = source.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def _fixed_chunks(source: BinaryIO, size: int) -> Iterator[bytes]:
    while chunk := _read_exactly(source, size):
        yield chunk


def encrypt(key: RepositoryKeys, binding: Binding, payload: BinaryIO) -> Iterator[bytes]:
    """Given a readable payload, yield the framed object: header, then encrypted chunks."""
    data_key = os.urandom(32)
    stream_prefix = os.urandom(_PREFIX)
    aad = binding.associated_data(key.object_version)
    yield binding.prefix(key.object_version) + key.wrap_data_key(data_key, aad) + stream_prefix
    cipher = AESGCM(data_key)
    compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_reader(payload)
    for index, (chunk, last) in enumerate(_with_last_flag(_fixed_chunks(compressed, CHUNK_SIZE))):
        yield cipher.encrypt(_chunk_nonce(stream_prefix, index, last), chunk, aad)


def decrypt(
    key: RepositoryKeys, binding: Binding, source: BinaryIO, max_size: int
) -> Iterator[bytes]:
    """Given a framed object, yield its verified payload, in blocks of at most CHUNK_SIZE.

    Raise IntegrityError on any tampering, truncation or trailing data (the last chunk is
    flagged as such), or once the payload grows past ``max_size``; UnsupportedFormat on an
    object of an unknown version. Every chunk is authenticated before it is decompressed.
    """
    version = key.object_version
    header_size = len(MAGIC) + 2 + key.wrapped_size + _PREFIX
    header = _read_exactly(source, header_size)
    if len(header) < header_size or header[: len(MAGIC)] != MAGIC:
        raise IntegrityError(f"{_describe(binding)} is not a drtool object (bad or short header)")
    if header[len(MAGIC)] != version:
        raise UnsupportedFormat(
            f"{_describe(binding)} has format version {header[len(MAGIC)]}, "
            f"this repository's objects are version {version}"
        )
    if header[: len(MAGIC) + 2] != binding.prefix(version):
        raise IntegrityError(f"{_describe(binding)} is an object of another type")
    aad = binding.associated_data(version)
    wrapped = header[len(MAGIC) + 2 : -_PREFIX]
    stream_prefix = header[-_PREFIX:]
    try:
        data_key = key.unwrap_data_key(wrapped, aad)
    except InvalidTag:
        raise IntegrityError(f"{_describe(binding)} failed authentication (header)") from None
    cipher = AESGCM(data_key)
    compressed = _ChunkStream(_authenticated(cipher, aad, binding, source, stream_prefix))
    # A stream reader hands out at most the bytes asked for, whatever one compressed byte
    # expands to; a decompressobj would return a whole chunk's expansion at once.
    reader = zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True)
    total = 0
    while True:
        try:
            plain = reader.read(CHUNK_SIZE)
        except zstandard.ZstdError as error:
            raise IntegrityError(f"{_describe(binding)} does not decompress: {error}") from None
        if not plain:
            break
        total += len(plain)
        if total > max_size:
            raise IntegrityError(
                f"{_describe(binding)} decompresses past its declared size of {max_size} bytes; "
                "refused"
            )
        yield plain


def _authenticated(
    cipher: AESGCM, aad: bytes, binding: Binding, source: BinaryIO, stream_prefix: bytes
) -> Iterator[bytes]:
    """Yield the decrypted chunks of a framed object's body, each authenticated first."""
    encrypted_chunks = _fixed_chunks(source, CHUNK_SIZE + TAG_SIZE)
    for index, (sealed, last) in enumerate(_with_last_flag(encrypted_chunks)):
        try:
            yield cipher.decrypt(_chunk_nonce(stream_prefix, index, last), sealed, aad)
        except InvalidTag:
            raise IntegrityError(
                f"{_describe(binding)} failed authentication at chunk {index} "
                "(tampered or truncated)"
            ) from None


class _ChunkStream(io.RawIOBase):
    """Chunks as a readable file, for zstd's stream reader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def seal(key: RepositoryKeys, binding: Binding, payload: bytes) -> bytes:
    """Encrypt a small in-memory payload (a manifest)."""
    return b"".join(encrypt(key, binding, io.BytesIO(payload)))


def unseal(
    key: RepositoryKeys, binding: Binding, source: BinaryIO, max_size: int = MAX_SEALED_SIZE
) -> bytes:
    """Decrypt a small sealed payload (a manifest), never past ``max_size`` bytes."""
    return b"".join(decrypt(key, binding, source, max_size))


def _describe(binding: Binding) -> str:
    if binding.object_type is ObjectType.MANIFEST:
        return f"snapshot {binding.second} of host {binding.first}"
    if binding.object_type is ObjectType.HOST_HEAD:
        return f"status record of host {binding.first}"
    return f"object {binding.first[:16]} ({binding.second})"
