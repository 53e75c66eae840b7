"""The Argon2id key encryption key of a passphrase key file (drtool/keyring/kek.py): the
``kdf`` field written, the key derived by hand with the cryptography package, and every key
file asking for something else refused word for word."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from drtool.errors import KeyFileRefused
from drtool.keyring.kek import kdf_of, kek_from_passphrase, passphrase_kek
from drtool.keys import KdfParameters

CHEAP = KdfParameters(iterations=1, lanes=1, memory_kib=8)


def kdf_field(salt_bytes: bytes = bytes(16), **change: object) -> dict:
    fields = {"name": "argon2id", "salt": base64.b64encode(salt_bytes).decode()}
    return {"kdf": {**fields, "iterations": 1, "lanes": 1, "memory_kib": 8, **change}}


def test_the_kek_is_argon2id_of_the_passphrase_with_the_fields_written() -> None:
    kek, fields = passphrase_kek(b"right", CHEAP)
    salt = base64.b64decode(fields["kdf"]["salt"], validate=True)
    assert fields == {
        "kdf": {
            "name": "argon2id",
            "salt": fields["kdf"]["salt"],
            "iterations": 1,
            "lanes": 1,
            "memory_kib": 8,
        }
    }
    assert len(salt) == 16
    by_hand = Argon2id(salt=salt, length=32, iterations=1, lanes=1, memory_cost=8)
    assert kek == by_hand.derive(b"right")
    assert kek_from_passphrase(fields, b"right") == kek
    assert passphrase_kek(b"right", CHEAP)[1]["kdf"]["salt"] != fields["kdf"]["salt"]


@pytest.mark.parametrize("size", [8, 64])
def test_a_salt_of_8_to_64_bytes_is_read(size: int) -> None:
    assert kdf_of(kdf_field(bytes(range(size)))) == (CHEAP, bytes(range(size)))


@pytest.mark.parametrize(
    ("document", "line"),
    [
        (kdf_field(bytes(7)), "key file is damaged (ValueError)"),
        (kdf_field(bytes(65)), "key file is damaged (ValueError)"),
        (kdf_field(name="scrypt"), "key file is damaged (ValueError)"),
        ({"kdf": "argon2id"}, "key file is damaged (ValueError)"),
        ({}, "key file is damaged (ValueError)"),
        (kdf_field(salt="*" + base64.b64encode(bytes(16)).decode()), "key file is damaged (Error)"),
        ({"kdf": {"name": "argon2id", "salt": "AAAAAAAAAAA="}}, "key file is damaged (KeyError)"),
        (kdf_field(salt=5), "key file is damaged (TypeError)"),
        (
            kdf_field(memory_kib=2**40),
            "key file asks for Argon2id with 1 passes, 1 lanes and 1099511627776 KiB: refused "
            "(at most 10 passes, 16 lanes, 1024 MiB)",
        ),
    ],
    ids=[
        "salt-7-bytes",
        "salt-65-bytes",
        "another-kdf",
        "kdf-not-an-object",
        "no-kdf",
        "salt-not-strict-base64",
        "no-iterations",
        "salt-not-text",
        "over-the-caps",
    ],
)
def test_refused_word_for_word(document: dict, line: str) -> None:
    with pytest.raises(KeyFileRefused) as refused:
        kdf_of(document)
    assert str(refused.value) == line
