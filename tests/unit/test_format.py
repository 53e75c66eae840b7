"""The object framing: round trips, and every kind of damage is refused."""

from __future__ import annotations

import io
import os

import pytest

from drtool import format as object_format
from drtool.errors import IntegrityError, UnsupportedFormat
from drtool.format import CHUNK_SIZE, HEADER_SIZE, Binding
from drtool.keys import MasterKey

KEY = MasterKey.from_secret(b"k" * 32)
BINDING = Binding.artifact_part("ab" * 32, "nginx")


def sealed(payload: bytes, binding: Binding = BINDING) -> bytes:
    return b"".join(object_format.encrypt(KEY, binding, io.BytesIO(payload)))


def opened(data: bytes, binding: Binding = BINDING, max_size: int = 1 << 30) -> bytes:
    return b"".join(object_format.decrypt(KEY, binding, io.BytesIO(data), max_size))


@pytest.mark.parametrize(
    "payload",
    [b"", b"x", b"server { listen 80; }\n" * 100, os.urandom(3 * CHUNK_SIZE + 17)],
    ids=["empty", "one-byte", "text", "multi-chunk-random"],
)
def test_round_trip(payload: bytes) -> None:
    assert opened(sealed(payload)) == payload


def test_exact_chunk_multiple_round_trips() -> None:
    # Random data does not compress, so the compressed stream crosses chunk boundaries.
    payload = os.urandom(2 * CHUNK_SIZE)
    data = sealed(payload)
    assert len(data) > HEADER_SIZE + 2 * CHUNK_SIZE
    assert opened(data) == payload


def test_same_payload_encrypts_differently() -> None:
    assert sealed(b"same") != sealed(b"same")


def test_plaintext_does_not_appear() -> None:
    marker = b"MARKER-7f3a-do-not-leak"
    assert marker not in sealed(marker * 3)


@pytest.mark.parametrize("offset", [0, 6, 7, 10, 40, 70, HEADER_SIZE + 3, -1, -20])
def test_flipped_byte_is_refused(offset: int) -> None:
    data = bytearray(sealed(os.urandom(5000)))
    data[offset] ^= 0x01
    with pytest.raises((IntegrityError, UnsupportedFormat)):
        opened(bytes(data))


def test_version_byte_names_the_version() -> None:
    data = bytearray(sealed(b"payload"))
    data[6] = 9
    with pytest.raises(UnsupportedFormat, match="version 9"):
        opened(bytes(data))


@pytest.mark.parametrize("keep", [0, 10, HEADER_SIZE, HEADER_SIZE + 10, -1])
def test_truncated_object_is_refused(keep: int) -> None:
    data = sealed(os.urandom(5000))
    with pytest.raises(IntegrityError):
        opened(data[:keep])


def test_truncation_at_a_chunk_boundary_is_refused() -> None:
    data = sealed(os.urandom(2 * CHUNK_SIZE))
    first_chunk_end = HEADER_SIZE + CHUNK_SIZE + object_format.TAG_SIZE
    with pytest.raises(IntegrityError, match="chunk 0"):
        opened(data[:first_chunk_end])


def test_trailing_data_is_refused() -> None:
    with pytest.raises(IntegrityError):
        opened(sealed(b"payload") + b"extra")


@pytest.mark.parametrize(
    "other",
    [
        Binding.artifact_part("cd" * 32, "nginx"),
        Binding.artifact_part("ab" * 32, "wireguard"),
        Binding.manifest("web-1", "20250107T000000Z-00000000"),
    ],
    ids=["other-id", "other-kind", "other-type"],
)
def test_object_is_bound_to_its_place(other: Binding) -> None:
    with pytest.raises(IntegrityError):
        opened(sealed(b"payload"), other)


def test_wrong_key_is_refused() -> None:
    data = sealed(b"payload")
    other_key = MasterKey.from_secret(b"o" * 32)
    with pytest.raises(IntegrityError):
        b"".join(object_format.decrypt(other_key, BINDING, io.BytesIO(data), 1 << 30))


def test_a_payload_never_decompresses_past_its_declared_size() -> None:
    """A few kilobytes that expand to 64 MiB: refused once past the limit, and no block handed
    out is larger than a chunk (memory stays flat whatever the ratio)."""
    bomb = sealed(bytes(64 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    blocks = object_format.decrypt(KEY, BINDING, io.BytesIO(bomb), 3 * CHUNK_SIZE)
    refusal = (
        r"^object abababababababab \(nginx\) decompresses past its declared size of "
        r"3145728 bytes; refused$"
    )
    with pytest.raises(IntegrityError, match=refusal):
        for block in blocks:
            assert len(block) <= CHUNK_SIZE
    assert len(opened(bomb, max_size=64 * 1024 * 1024)) == 64 * 1024 * 1024
