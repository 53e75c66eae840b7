"""Format 2: an artifact's tar stream cut into blobs, and the keyed ids that name them.

docs/FORMAT.md, section "Blobs", is the specification. The tar stream is the one format 1
stores (archive.py's members, then the end-of-archive marker), cut so that a blob never spans two
members: a small member (header, data, padding) is one blob; a large one is its header, then its
data cut into content-defined chunks at line ends (the last chunk carries the padding). A line
ends a chunk when the chunk holds at least MIN_CHUNK bytes and the line's CRC-32 has its low
bits zero, so one changed rule of a firewall dump changes the chunk that holds it and no other.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)
# A member whose header, data and padding fit in SMALL_MEMBER is one blob.
SMALL_MEMBER = 64 * 1024
MIN_CHUNK = 2 * 1024
MAX_CHUNK = 64 * 1024
# A line with these CRC-32 bits all zero ends a chunk (1 in 64 lines): ~5 KiB of iptables-save.
_CUT_MASK = 63
# The largest blob a reader accepts (a chunk, or a member header with long pax records).
MAX_BLOB_SIZE = 1024 * 1024


def blob_id(id_key: bytes, kind: str, plaintext: bytes) -> bytes:
    """HMAC-SHA256(content id key of the host, kind || 0x00 || plaintext): 32 bytes."""
    return hmac.digest(id_key, kind.encode() + b"\x00" + plaintext, hashlib.sha256)


def padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


def member_blobs(header: bytes, data: bytes) -> Iterator[bytes]:
    """The blobs of one tar member: its header block(s), data and padding, in stream order."""
    pad = padding(len(data))
    if len(header) + len(data) + len(pad) <= SMALL_MEMBER:
        yield header + data + pad
        return
    yield header
    chunks = list(chunk_boundaries(data))
    for start, end in chunks[:-1]:
        yield data[start:end]
    start, end = chunks[-1]
    yield data[start:end] + pad


def chunk_boundaries(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each content-defined chunk of ``data`` (non-empty data: one at least).

    Cuts fall after a line whose CRC-32 masked by _CUT_MASK is zero, once the chunk holds
    MIN_CHUNK bytes; a chunk reaching MAX_CHUNK without such a line is cut at the last line end
    before it, or, with none (a binary file), at MAX_CHUNK."""
    start = 0
    size = len(data)
    find, crc, view = data.find, zlib.crc32, memoryview(data)
    line_start = 0
    last_line_end = -1
    while line_start < size:
        newline = find(b"\n", line_start, start + MAX_CHUNK)
        if newline < 0:
            if size - start <= MAX_CHUNK:
                break
            end = last_line_end if last_line_end > start else start + MAX_CHUNK
            yield start, end
            start = line_start = end
            last_line_end = -1
            continue
        line_end = newline + 1
        if line_end - start >= MIN_CHUNK and not crc(view[line_start:line_end]) & _CUT_MASK:
            yield start, line_end
            start = line_end
            last_line_end = -1
        else:
            last_line_end = line_end
        line_start = line_end
    if start < size or size == 0:
        yield start, size


@dataclass(frozen=True, slots=True)
class BlobRef:
    """Where a blob is: its id, its pack, its place in the pack (offset and stored length, the
    sealed bytes), and its plaintext size. Ids in hex, as a manifest's JSON holds them."""

    id: str
    pack: str
    offset: int
    length: int
    size: int
