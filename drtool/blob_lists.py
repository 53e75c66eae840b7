"""Format 2: the list of an artifact's blobs, itself stored as blobs ("list blobs").

docs/FORMAT.md, section "Blob lists". A manifest names an artifact's list blobs; each holds
fixed-size records, one per blob of the tar stream, in order, with the pack, offset and length
to read it: a restore needs no global index. Lists are cut where a record's blob id starts with
a byte below _CUT_BELOW (content-defined), so an unchanged stretch of files stores the same list
blob night after night.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

from drtool.blobs import MAX_BLOB_SIZE, BlobRef
from drtool.errors import IntegrityError

RECORD = struct.Struct(">32s16sIII")  # blob id, pack id, offset, stored length, plaintext size
MIN_RECORDS = 16
MAX_RECORDS = 2048
_CUT_BELOW = 4  # 1 record in 64 ends a list blob


def list_kind(kind: str) -> str:
    """The kind under which ``kind``'s list blobs are named ('/' is in no kind's name)."""
    return f"{kind}/blobs"


def encode_lists(refs: Sequence[BlobRef]) -> Iterator[bytes]:
    """The plaintexts of the list blobs holding ``refs``, in order."""
    records = bytearray()
    count = 0
    for ref in refs:
        raw_id = bytes.fromhex(ref.id)
        records += RECORD.pack(raw_id, bytes.fromhex(ref.pack), ref.offset, ref.length, ref.size)
        count += 1
        if count >= MAX_RECORDS or (count >= MIN_RECORDS and raw_id[0] < _CUT_BELOW):
            yield bytes(records)
            records.clear()
            count = 0
    if records:
        yield bytes(records)


def decode_list(plaintext: bytes, what: str) -> list[BlobRef]:
    """The records of one list blob; raise IntegrityError for a malformed one."""
    if len(plaintext) % RECORD.size:
        raise IntegrityError(f"{what} is not a whole number of blob records")
    refs = []
    for blob_id, pack_id, offset, length, size in RECORD.iter_unpack(plaintext):
        if size > MAX_BLOB_SIZE:
            raise IntegrityError(f"{what} names a blob of {size} bytes, past the limit")
        refs.append(BlobRef(blob_id.hex(), pack_id.hex(), offset, length, size))
    return refs
