"""A framed object as docs/FORMAT.md ("Framed object") lays it out, built and taken apart by hand
in this file: the offsets, the chunk nonces and the associated data are written out from the
spec, and AES-GCM and zstd are called directly, not through drtool/format.py. What drtool seals
has that layout, what that layout holds drtool opens, and an authenticated plaintext that zstd
cannot decompress is refused in one line. (Mutants of the refusal's words survived every test
that only sealed with drtool itself.)"""

from __future__ import annotations

import io
import os

import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from drtool import format as object_format
from drtool.errors import IntegrityError
from drtool.format import Binding
from drtool.keys import MasterKey

KEY = MasterKey.from_secret(b"k" * 32)
BINDING = Binding.artifact_part("ab" * 32, "nginx")
# Type 1: magic, version 1, type 1, then the object id and the kind, each with a 2-byte length.
AAD = b"DRTOOL\x01\x01" + b"\x00\x40" + b"ab" * 32 + b"\x00\x05nginx"
CHUNK = 1024 * 1024
TAG = 16
HEADER = 75  # magic 6, version 1, type 1, key nonce 12, wrapped data key 48, stream prefix 7


def chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def build(plaintext: bytes) -> bytes:
    """An object written from the spec: its header, then ``plaintext`` in 1 MiB chunks."""
    data_key, key_nonce, prefix = os.urandom(32), os.urandom(12), os.urandom(7)
    wrapped = AESGCM(KEY.wrap_key).encrypt(key_nonce, data_key, AAD)
    chunks = [plaintext[at : at + CHUNK] for at in range(0, len(plaintext), CHUNK)] or [b""]
    cipher = AESGCM(data_key)
    body = b"".join(
        cipher.encrypt(chunk_nonce(prefix, index, index == len(chunks) - 1), chunk, AAD)
        for index, chunk in enumerate(chunks)
    )
    return b"DRTOOL\x01\x01" + key_nonce + wrapped + prefix + body


def take_apart(data: bytes) -> list[bytes]:
    """The plaintext chunks of an object, read at the spec's offsets."""
    assert data[:8] == b"DRTOOL\x01\x01"
    data_key = AESGCM(KEY.wrap_key).decrypt(data[8:20], data[20:68], AAD)
    prefix, body = data[68:75], data[HEADER:]
    sealed = [body[at : at + CHUNK + TAG] for at in range(0, len(body), CHUNK + TAG)]
    cipher = AESGCM(data_key)
    return [
        cipher.decrypt(chunk_nonce(prefix, index, index == len(sealed) - 1), chunk, AAD)
        for index, chunk in enumerate(sealed)
    ]


def zstd_frame(payload: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(payload)


def test_what_drtool_seals_has_the_documented_layout() -> None:
    payload = os.urandom(CHUNK + 100)  # random: over one chunk once compressed
    chunks = take_apart(object_format.seal(KEY, BINDING, payload))
    assert len(chunks) == 2 and len(chunks[0]) == CHUNK
    assert zstandard.ZstdDecompressor().decompressobj().decompress(b"".join(chunks)) == payload


def test_what_the_documented_layout_holds_drtool_opens() -> None:
    payload = os.urandom(CHUNK + 100)
    data = build(zstd_frame(payload))
    assert len(data) == HEADER + len(zstd_frame(payload)) + 2 * TAG
    assert object_format.unseal(KEY, BINDING, io.BytesIO(data), CHUNK + 100) == payload


@pytest.mark.parametrize(
    "plaintext",
    [zstd_frame(b"payload") + b"junk", b"not a zstd frame"],
    ids=["bytes-after-the-frame", "no-frame"],
)
def test_an_authenticated_plaintext_that_is_not_zstd_is_refused(plaintext: bytes) -> None:
    """Only a holder of the key can make one; still one line, naming the object."""
    with pytest.raises(IntegrityError) as refused:
        object_format.unseal(KEY, BINDING, io.BytesIO(build(plaintext)))
    assert str(refused.value).startswith("object abababababababab (nginx) does not decompress: ")
