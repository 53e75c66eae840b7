"""The key file as docs/FORMAT.md ("Keys") documents it, and its refusals word for word, through
the public functions only (so that the tests outlive a rewrite of drtool/keys.py). Written for
the mutants of keys.py that survived tests/unit/test_keys.py and test_keys_stability.py.

Refusals are told apart by their words: "key file is damaged" (the file itself is malformed,
nothing derived) is not "wrong passphrase" (it parsed, and authentication failed)."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from drtool.errors import KeyUnavailable, UnsupportedFormat
from drtool.keys import (
    KdfParameters,
    KeyFileHeader,
    new_key_id,
    new_master_secret,
    read_key_file_header,
    unwrap_master_secret,
    wrap_master_secret,
)

FAST = KdfParameters(iterations=1, lanes=1, memory_kib=8 * 1024)
SECRET = bytes(range(32))
HEADER = KeyFileHeader("repo-a", 1, "0011223344556677")


def key_document() -> dict:
    return json.loads(wrap_master_secret(SECRET, b"pass", HEADER, FAST))


def unwrap(document: dict) -> tuple[KeyFileHeader, bytes]:
    return unwrap_master_secret(json.dumps(document).encode(), b"pass")


def refusal(document: dict) -> str:
    with pytest.raises(KeyUnavailable) as refused:
        unwrap(document)
    return str(refused.value)


def b64(length: int) -> str:
    return base64.b64encode(bytes(length)).decode()


def test_a_key_file_holds_what_format_md_lists() -> None:
    before = datetime.now(UTC)
    document = key_document()
    assert set(document) == {
        "format",
        "repository_id",
        "repository_format",
        "key_id",
        "created",
        "kdf",
        "nonce",
        "wrapped_key",
    }
    created = datetime.fromisoformat(document["created"].replace("Z", "+00:00"))
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert len(base64.b64decode(document["kdf"]["salt"])) == 16
    assert len(base64.b64decode(document["nonce"])) == 12
    assert len(base64.b64decode(document["wrapped_key"])) == 48
    assert unwrap(document) == (HEADER, SECRET)


def test_new_secrets_and_key_ids_have_their_documented_sizes() -> None:
    assert len(new_master_secret()) == 32
    assert new_master_secret() != new_master_secret()
    key_id = new_key_id()
    assert re.fullmatch(r"[0-9a-f]{16}", key_id), key_id
    assert new_key_id() != key_id


@pytest.mark.parametrize(
    ("field", "length", "damaged"),
    [
        ("salt", 7, True),
        ("salt", 8, False),  # the shortest salt accepted: parsed, then authentication fails
        ("salt", 64, False),
        ("salt", 65, True),
        ("nonce", 16, True),  # a nonce AES-GCM would take, but not the documented 12 bytes
        ("nonce", 11, True),
        ("wrapped_key", 47, True),
        ("wrapped_key", 64, True),
    ],
)
def test_lengths_outside_the_format_are_damage_not_a_wrong_passphrase(
    field: str, length: int, damaged: bool
) -> None:
    document = key_document()
    holder = document["kdf"] if field == "salt" else document
    holder[field] = b64(length)
    expected = "key file is damaged (ValueError)" if damaged else "wrong passphrase"
    assert refusal(document) == expected


def test_a_damaged_header_says_which_error() -> None:
    document = key_document()
    document["repository_format"] = "one"
    assert refusal(document) == "key file is damaged (ValueError)"
    del document["repository_format"]
    assert refusal(document) == "key file is damaged (KeyError)"


@pytest.mark.parametrize("kdf", ["argon2id", ["argon2id"], None, {"name": "scrypt"}])
def test_a_kdf_that_is_not_argon2id_is_an_unsupported_format(kdf: object) -> None:
    document = key_document()
    document["kdf"] = kdf
    with pytest.raises(UnsupportedFormat) as refused:
        unwrap(document)
    assert str(refused.value) == "key file format 1 is not supported by this drtool"


def test_a_newer_key_format_is_named() -> None:
    document = key_document()
    document["format"] = 2
    with pytest.raises(UnsupportedFormat) as refused:
        read_key_file_header(json.dumps(document).encode(), 1)
    assert str(refused.value) == "key file format 2 is not supported by this drtool"


@pytest.mark.parametrize("text", [b"[1, 2]", b'"a string"', b"{not json"])
def test_a_key_file_that_is_not_a_json_object_is_damaged(text: bytes) -> None:
    with pytest.raises(KeyUnavailable) as refused:
        unwrap_master_secret(text, b"pass")
    assert str(refused.value) in (
        "key file is damaged (ValueError)",
        "key file is damaged (JSONDecodeError)",
    )


@pytest.mark.parametrize(
    ("parameters", "accepted"),
    [
        ({"lanes": 4, "memory_kib": 32}, True),  # 8 KiB per lane: Argon2id's own minimum
        ({"lanes": 4, "memory_kib": 31}, False),
        ({"lanes": 16, "memory_kib": 128}, True),
        ({"lanes": 16, "memory_kib": 127}, False),
        ({"lanes": 1, "memory_kib": 8}, True),
    ],
)
def test_the_memory_floor_is_eight_kib_per_lane(parameters: dict, accepted: bool) -> None:
    kdf = KdfParameters(iterations=1, **parameters)
    if accepted:
        assert kdf.check() == kdf
    else:
        with pytest.raises(KeyUnavailable, match="refused"):
            kdf.check()


def test_refused_kdf_parameters_are_named_with_the_caps() -> None:
    with pytest.raises(KeyUnavailable) as refused:
        KdfParameters(iterations=11, lanes=2, memory_kib=4096).check()
    assert str(refused.value) == (
        "key file asks for Argon2id with 11 passes, 2 lanes and 4096 KiB: refused "
        "(at most 10 passes, 16 lanes, 1024 MiB)"
    )
    with pytest.raises(KeyUnavailable) as refused:
        KdfParameters(iterations=1.0, lanes=1, memory_kib=8192).check()  # type: ignore[arg-type]
    assert str(refused.value) == "key file is damaged (KDF parameters must be integers)"
