"""The object format does not drift: an object sealed by this version (kept here as bytes) still
opens, the associated data is byte for byte what the format says, a source that returns short
reads is read whole, and each refusal says what it refuses. (Mutants that changed the format
consistently on both sides, or the messages, survived the round-trip tests.)"""

from __future__ import annotations

import io
import os

import pytest

from drtool import format as object_format
from drtool.errors import IntegrityError
from drtool.format import CHUNK_SIZE, HEADER_SIZE, Binding
from drtool.keys import MasterKey

KEY = MasterKey.from_secret(b"k" * 32)
BINDING = Binding.manifest("web-1", "20250107T101500Z-0a1b2c3d")
GOLDEN_PAYLOAD = b'{"golden": true}\n'
GOLDEN = bytes.fromhex(
    "4452544f4f4c010274c94d93a46f21874206218b7f882a2540332fb377dc1069cd361e2f495607e49e92a9b1"
    "a7aca440dd9c91bd8a621202f975629b9bf432eff22dea60a164e1d4faf4675b8b0f05e2fb77108fe71e0aeb"
    "83681cebdd14574b49686f9c7589ad19a80861e75c4bcbb9151cdee032"
)


class Trickle(io.RawIOBase):
    """A source that hands out at most three bytes per read, as a slow socket does."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        chunk = self.data.read(min(3, len(buffer)))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_an_object_sealed_by_format_version_1_still_opens() -> None:
    assert object_format.unseal(KEY, BINDING, io.BytesIO(GOLDEN)) == GOLDEN_PAYLOAD


def test_the_associated_data_is_the_documented_bytes() -> None:
    assert BINDING.associated_data() == (
        b"DRTOOL\x01\x02" + b"\x00\x05web-1" + b"\x00\x1920250107T101500Z-0a1b2c3d"
    )


def test_a_source_of_short_reads_is_read_whole() -> None:
    assert object_format.unseal(KEY, BINDING, Trickle(GOLDEN)) == GOLDEN_PAYLOAD


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"NOTDRTOOL" + GOLDEN[9:], "snapshot .* of host web-1 is not a drtool object"),
        (GOLDEN[: HEADER_SIZE - 1], r"is not a drtool object \(bad or short header\)"),
        (GOLDEN[:-1], r"failed authentication at chunk 0 \(tampered or truncated\)$"),
    ],
)
def test_each_refusal_says_what_it_refuses(data: bytes, message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        object_format.unseal(KEY, BINDING, io.BytesIO(data))


def test_an_object_of_another_type_says_so() -> None:
    part = Binding.artifact_part("ab" * 32, "nginx")
    with pytest.raises(IntegrityError, match=r"^object abababababababab \(nginx\) is an object"):
        object_format.unseal(KEY, part, io.BytesIO(GOLDEN))


def test_a_payload_of_several_chunks_unseals_whole() -> None:
    payload = os.urandom(CHUNK_SIZE + 100)  # random: stays over one chunk once compressed
    sealed = object_format.seal(KEY, BINDING, payload)
    assert object_format.unseal(KEY, BINDING, io.BytesIO(sealed)) == payload
