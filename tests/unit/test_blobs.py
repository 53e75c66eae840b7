"""Cutting a tar stream into blobs: nothing lost, bounded sizes, content-defined cuts."""

from __future__ import annotations

import os
import random

import pytest

from drtool.archive import EntryType, FileEntry, member_header
from drtool.blob_lists import decode_list, encode_lists
from drtool.blob_reader import MAX_MEMBER_OVERHEAD
from drtool.blobs import (
    BLOCK,
    MAX_CHUNK,
    SMALL_MEMBER,
    BlobRef,
    chunk_boundaries,
    member_blobs,
)
from drtool.errors import IntegrityError


def text(lines: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return b"".join(
        f"-A INPUT -s 10.0.{rng.randrange(256)}.{rng.randrange(256)} -j ACCEPT\n".encode()
        for _ in range(lines)
    )


def chunks(data: bytes) -> list[bytes]:
    return [data[start:end] for start, end in chunk_boundaries(data)]


@pytest.mark.parametrize(
    "data",
    [b"", b"x", text(10_000), os.urandom(300_000), b"\n" * 200_000, text(50) + os.urandom(99_999)],
    # named: ids made of random bytes differ from one pytest-xdist worker's collection to another's
    ids=["empty", "one byte", "rules", "random", "newlines", "rules then random"],
)
def test_chunks_cover_the_data_and_stay_bounded(data: bytes):
    pieces = chunks(data)
    assert b"".join(pieces) == data
    assert all(0 < len(piece) <= MAX_CHUNK for piece in pieces) or data == b""


def test_one_changed_line_changes_at_most_two_chunks():
    data = text(20_000)
    lines = data.splitlines(keepends=True)
    lines[10_000] = b"-A INPUT -s 192.0.2.1 -j DROP\n"
    before, after = set(chunks(data)), chunks(b"".join(lines))
    assert 1 <= len([piece for piece in after if piece not in before]) <= 2
    assert len(after) > 50


def test_a_small_member_is_one_blob_a_large_one_its_header_then_chunks():
    header = b"h" * BLOCK
    (small,) = member_blobs(header, b"data")
    assert small == header + b"data" + bytes(BLOCK - 4)
    data = text(20_000)
    blobs = list(member_blobs(header, data))
    assert len(data) > SMALL_MEMBER and blobs[0] == header
    assert b"".join(blobs) == header + data + bytes(-len(data) % BLOCK)


def test_blob_lists_round_trip_and_refuse_a_partial_record():
    refs = [
        BlobRef(os.urandom(32).hex(), os.urandom(16).hex(), index, 100 + index, index * 3)
        for index in range(5000)
    ]
    plaintexts = list(encode_lists(refs))
    assert len(plaintexts) > 10
    assert [ref for plain in plaintexts for ref in decode_list(plain, "list")] == refs
    with pytest.raises(IntegrityError, match="whole number"):
        decode_list(plaintexts[0][:-1], "list")


def test_the_longest_header_drtool_writes_fits_the_stream_bound_per_member() -> None:
    """What a member may add to a stream beyond its data (stream_limit): its header blocks as
    tarfile writes them for the longest names Linux gives (PATH_MAX, 4,096 with the NUL), every
    number past ustar's fields and a name that is not UTF-8, and its data padding."""
    entry = FileEntry(
        path="/".join(["\udcff" + "d" * 253] * 16)[:4095],
        type=EntryType.SYMLINK,
        mode=0o7777,
        uid=2**32 - 2,
        gid=2**32 - 2,
        mtime_ns=2**62 - 1,
        link_target="t" * 4095,
    )
    header = member_header(entry)
    assert b"path=" in header and b"linkpath=" in header and b"hdrcharset=" in header
    assert len(header) + BLOCK - 1 <= MAX_MEMBER_OVERHEAD
