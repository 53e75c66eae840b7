"""Every key of a generation (drtool/keyring/generation.py) derived by hand from the table of
docs/FORMAT.md ("Generations") with the cryptography package."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from drtool.keyring.generation import Generation, content_id_key, generation_bytes
from tests.support.keyring_oracle import hkdf, host_signing_key, operator_key

SECRET = bytes(range(32))


def raw(key) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_every_key_of_a_generation() -> None:
    generation = Generation(7, SECRET)
    reader = X25519PrivateKey.from_private_bytes(hkdf(SECRET, b"drtool v2 reader key"))
    assert generation.reader_public == raw(reader)
    assert generation.reader_key.private_bytes_raw() == reader.private_bytes_raw()
    id_secret = hkdf(SECRET, b"drtool v2 id secret")
    assert generation.id_secret == id_secret
    by_hand = hkdf(id_secret, b"drtool v2 content id" + "wéb-1".encode())
    assert generation.content_id_key("wéb-1") == by_hand
    assert content_id_key(id_secret, "wéb-1") == by_hand
    assert generation.operator_public == raw(operator_key(SECRET))
    assert raw(generation.host_signing_key("web-1")) == raw(host_signing_key(SECRET, "web-1"))
    assert raw(generation.host_signing_key("web-1")) != raw(generation.host_signing_key("web-2"))


def test_a_new_generation_is_32_random_bytes_never_shown() -> None:
    first, second = Generation.new(1), Generation.new(1)
    assert len(first.secret) == 32 and first.secret != second.secret
    assert repr(first) == "Generation(1, <redacted>)"
    assert generation_bytes(1) == b"\x00\x00\x00\x01"
    assert generation_bytes(2**31 - 1) == b"\x7f\xff\xff\xff"
