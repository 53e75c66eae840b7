from __future__ import annotations

import json

import pytest

from drtool.errors import IntegrityError, KeyUnavailable, UnsupportedFormat
from drtool.keys import (
    KdfParameters,
    KeyFileHeader,
    MasterKey,
    read_key_file_header,
    unwrap_master_secret,
    wrap_master_secret,
)

FAST = KdfParameters(iterations=1, lanes=1, memory_kib=8 * 1024)
SECRET = bytes(range(32))


HEADER = KeyFileHeader("repo-a", 1, "0011223344556677")


def key_file(passphrase: bytes = b"pass") -> bytes:
    return wrap_master_secret(SECRET, passphrase, HEADER, FAST)


def test_unwrap_returns_the_header_and_secret() -> None:
    assert unwrap_master_secret(key_file(), b"pass") == (HEADER, SECRET)


def test_default_parameters_are_memory_hard() -> None:
    document = json.loads(wrap_master_secret(SECRET, b"p", HEADER))
    assert document["kdf"] == {**document["kdf"], "name": "argon2id", "memory_kib": 65536}


def test_key_file_holds_no_secret_in_clear() -> None:
    assert SECRET not in key_file() and SECRET.hex().encode() not in key_file()


def test_wrong_passphrase() -> None:
    with pytest.raises(KeyUnavailable, match="wrong passphrase"):
        unwrap_master_secret(key_file(), b"nope")


@pytest.mark.parametrize(
    "field, value", [("repository_id", "repo-b"), ("key_id", "ff" * 8), ("repository_format", 0)]
)
def test_the_clear_header_is_authenticated(field: str, value: object) -> None:
    document = json.loads(key_file())
    document[field] = value
    with pytest.raises(KeyUnavailable):
        unwrap_master_secret(json.dumps(document).encode(), b"pass")


def test_damaged_key_file() -> None:
    with pytest.raises(KeyUnavailable, match="damaged"):
        unwrap_master_secret(b"{not json", b"pass")


def test_newer_key_format() -> None:
    document = json.loads(key_file())
    document["format"] = 2
    with pytest.raises(UnsupportedFormat):
        unwrap_master_secret(json.dumps(document).encode(), b"pass")


def test_newer_repository_format_is_refused_from_the_header() -> None:
    document = json.loads(key_file())
    document["repository_format"] = 2
    with pytest.raises(UnsupportedFormat, match="upgrade drtool"):
        read_key_file_header(json.dumps(document).encode(), 1)


def test_master_key_repr_hides_keys() -> None:
    key = MasterKey.from_secret(SECRET)
    assert key.wrap_key.hex() not in repr(key) and "redacted" in repr(key)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("iterations", 10_000_000),
        ("iterations", 11),
        ("iterations", 0),
        ("iterations", 1e7),
        ("iterations", True),
        ("lanes", 17),
        ("memory_kib", 1024 * 1024 + 1),
        ("memory_kib", 4),
        ("memory_kib", "65536"),
        ("salt", ""),
    ],
)
def test_hostile_kdf_parameters_are_refused_before_deriving(field: str, value: object) -> None:
    document = json.loads(key_file())
    document["kdf"][field] = value
    with pytest.raises(KeyUnavailable):
        unwrap_master_secret(json.dumps(document).encode(), b"pass")


def test_the_caps_allow_the_defaults_and_their_maximum() -> None:
    assert KdfParameters().check() == KdfParameters()
    KdfParameters(iterations=10, lanes=16, memory_kib=1024 * 1024).check()


def test_format1_record_authentication() -> None:
    key = MasterKey.from_secret(SECRET)
    tag = key.sign_record(b"tombstone")
    assert len(tag) == 32
    key.verify_record(b"tombstone", tag)
    with pytest.raises(IntegrityError):
        key.verify_record(b"tombstone!", tag)
    with pytest.raises(IntegrityError):
        MasterKey.from_secret(b"o" * 32).verify_record(b"tombstone", tag)
