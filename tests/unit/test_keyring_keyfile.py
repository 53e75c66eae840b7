"""A format-2 reader key file (drtool/keyring/keyfile.py) taken apart by hand from
docs/FORMAT.md ("Reader key files"): the wrapped key opened and every generation unsealed with
the cryptography package, the signatures checked over bytes written by hand; a planted or
tampered key file refused word for word."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from drtool.errors import KeyFileRefused, KeyUnavailable, UnsupportedFormat
from drtool.keyring.access import ReaderKeys
from drtool.keyring.generation import Generation
from drtool.keyring.keyfile import new_key_file, parse_key_file
from tests.support import keyring_oracle as oracle
from tests.support.keyring_oracle import b64, check_signature, operator_key

REPOSITORY, KEY_ID = "0123456789abcdef0123456789abcdef", "fedcba9876543210"
KEK = bytes(range(32))
FIRST, SECOND, THIRD = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def operator_public(secret: bytes) -> bytes:
    return operator_key(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def made(generations: dict[int, bytes], kind: str = "passphrase") -> dict:
    keys = {number: Generation(number, secret) for number, secret in generations.items()}
    data = new_key_file(REPOSITORY, KEY_ID, kind, "label", KEK, keys, {"kdf": {"x": 1}})
    assert data.endswith(b"}\n") and data == json.dumps(json.loads(data), indent=2).encode() + b"\n"
    return json.loads(data)


def entry_aad(number: int) -> bytes:
    return oracle.entry_aad(REPOSITORY, KEY_ID, number)


def private_of(document: dict) -> X25519PrivateKey:
    """The key file's private key, unwrapped by hand with the AAD FORMAT.md gives."""
    return oracle.key_file_private(document, REPOSITORY, KEY_ID, KEK)


def unsealed(document: dict, number: int) -> bytes:
    """Generation ``number``'s secret, unsealed by hand."""
    return oracle.unsealed(document, REPOSITORY, KEY_ID, KEK, number)


def test_a_new_key_file_is_built_as_format_md_says() -> None:
    document = made({1: FIRST, 2: SECOND})
    assert {
        k: v
        for k, v in document.items()
        if k not in ("created", "nonce", "public_key", "wrapped_key", "generations", "endorsement")
    } == {
        "format": 2,
        "repository_id": REPOSITORY,
        "repository_format": 2,
        "key_id": KEY_ID,
        "kind": "passphrase",
        "label": "label",
        "kdf": {"x": 1},
        "anchor": [base64.b64encode(operator_public(s)).decode() for s in (FIRST, SECOND)],
        "endorsed_by": 2,
    }
    assert len(b64(document["nonce"])) == 12
    assert [entry["generation"] for entry in document["generations"]] == [1, 2]
    assert all(set(entry) == {"generation", "sealed"} for entry in document["generations"])
    assert (unsealed(document, 1), unsealed(document, 2)) == (FIRST, SECOND)
    endorsement = (
        b"drtool v2 key file\x00"
        + REPOSITORY.encode()
        + b"\x00"
        + KEY_ID.encode()
        + b64(document["public_key"])
    )
    check_signature(operator_key(SECOND).public_key(), document["endorsement"], endorsement)
    keys = parse_key_file(document).unlock(KEK)
    assert {n: g.secret for n, g in keys.generations.items()} == {1: FIRST, 2: SECOND}
    assert keys.key_id == KEY_ID
    assert parse_key_file(document).endorsed_by(keys)
    assert parse_key_file(made({1: FIRST}, "kms")).unlock(KEK).current.secret == FIRST


def test_a_rotation_seals_the_next_generation_signed_by_the_one_before() -> None:
    document = made({1: FIRST})
    rotated = json.loads(
        parse_key_file(document).with_generation(Generation(2, SECOND), Generation(1, FIRST))
    )
    assert {k: v for k, v in rotated.items() if k != "generations"} == {
        k: v for k, v in document.items() if k != "generations"
    }
    entry = rotated["generations"][1]
    assert entry["generation"] == 2 and unsealed(rotated, 2) == SECOND
    check_signature(
        operator_key(FIRST).public_key(), entry["signature"], entry_aad(2) + b64(entry["sealed"])
    )
    third = json.loads(
        parse_key_file(rotated).with_generation(Generation(3, THIRD), Generation(2, SECOND))
    )
    keys = parse_key_file(third).unlock(KEK)
    assert {n: g.secret for n, g in keys.generations.items()} == {1: FIRST, 2: SECOND, 3: THIRD}


def refused(document: dict) -> str:
    with pytest.raises(KeyFileRefused) as error:
        parse_key_file(document).unlock(KEK)
    return str(error.value)


def rotated() -> dict:
    document = made({1: FIRST})
    return json.loads(
        parse_key_file(document).with_generation(Generation(2, SECOND), Generation(1, FIRST))
    )


def test_a_generation_slipped_in_or_tampered_is_refused_word_for_word() -> None:
    document = rotated()
    slipped = json.loads(
        parse_key_file(document).with_generation(
            Generation(3, THIRD),
            Generation(3, THIRD),  # signed by no generation of the keyring
        )
    )
    assert refused(slipped) == f"key file {KEY_ID}: generation 3 is not signed by the keyring"
    unsigned = rotated()
    del unsigned["generations"][1]["signature"]
    assert refused(unsigned) == "key file is damaged (signature is not base64)"
    moved = rotated()
    moved["generations"][1]["signature"] = base64.b64encode(bytes(64)).decode()
    assert refused(moved) == f"key file {KEY_ID}: generation 2 is not signed by the keyring"
    swapped = rotated()
    swapped["generations"][0]["sealed"] = swapped["generations"][1]["sealed"]
    assert refused(swapped) == f"key file {KEY_ID}: generation 1 fails authentication"
    short = rotated()
    short["generations"][0]["sealed"] = base64.b64encode(bytes(79)).decode()
    assert refused(short) == "key file is damaged (sealed is 79 bytes, not 80)"


def test_an_anchor_names_the_operator_key_of_each_generation_it_holds() -> None:
    # someone who can write the storage puts our anchor in a key file of theirs: the anchor is
    # authenticated by the wrapped key, so they would need our kek
    theirs = made({1: SECOND})
    theirs["anchor"] = made({1: FIRST})["anchor"]
    with pytest.raises(KeyUnavailable, match=r"^wrong passphrase$"):
        parse_key_file(theirs).unlock(KEK)
    # anyone can seal to the file's public key: a generation 1 the anchor does not name
    document = made({1: FIRST})
    resealed = parse_key_file(document).with_generation(
        Generation(1, SECOND), Generation(1, SECOND)
    )
    document["generations"] = json.loads(resealed)["generations"][-1:]
    assert unsealed(document, 1) == SECOND
    assert refused(document) == f"key file {KEY_ID}: generation 1 is not signed by the keyring"


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"generations": []}, f"key file {KEY_ID} is damaged (no generations)"),
        ({"generations": {}}, f"key file {KEY_ID} is damaged (no generations)"),
        ({"generations": [{}] * 1001}, f"key file {KEY_ID} is damaged (no generations)"),
        ({"generations": ["x"]}, f"key file {KEY_ID} is damaged (generations out of order)"),
    ],
    ids=["none", "not-a-list", "over-1000", "not-an-object"],
)
def test_damaged_generations(change: dict, line: str) -> None:
    assert refused({**made({1: FIRST}), **change}) == line


def test_generations_numbered_from_1_without_a_gap() -> None:
    document = rotated()
    document["generations"][1]["generation"] = 3
    assert refused(document) == f"key file {KEY_ID} is damaged (generations out of order)"
    document = rotated()
    document["generations"].reverse()
    assert refused(document) == f"key file {KEY_ID} is damaged (generations out of order)"
    document = rotated()
    del document["generations"][0]
    assert refused(document) == f"key file {KEY_ID} is damaged (generations out of order)"
    document = rotated()
    document["generations"][0]["generation"] = 0
    assert refused(document) == "key file is damaged (generation is not a positive integer)"


def test_1000_generations_are_read() -> None:
    document = made({1: FIRST})
    entry = document["generations"][0]
    # 1000 entries: the count is accepted; the second, out of order, is what refuses it
    document["generations"] = [entry] * 1000
    assert refused(document) == f"key file {KEY_ID} is damaged (generations out of order)"


def test_a_wrong_kek_or_a_changed_clear_field_is_a_wrong_passphrase() -> None:
    document = made({1: FIRST})
    with pytest.raises(KeyUnavailable, match=r"^wrong passphrase$"):
        parse_key_file(document).unlock(bytes(32))
    for change in (
        {"repository_id": "f" * 32},
        {"key_id": "0" * 16},
        {"kind": "kms"},
        {"public_key": made({1: FIRST})["public_key"]},
        {"anchor": made({1: SECOND})["anchor"]},
    ):
        with pytest.raises(KeyUnavailable, match=r"^wrong passphrase$"):
            parse_key_file({**document, **change}).unlock(KEK)


def test_the_endorsement() -> None:
    document = made({1: FIRST, 2: SECOND})
    keys = ReaderKeys({1: Generation(1, FIRST), 2: Generation(2, SECOND)})
    assert parse_key_file(document).endorsed_by(keys)
    assert not parse_key_file(document).endorsed_by(ReaderKeys({1: Generation(1, FIRST)}))
    stranger = ReaderKeys({2: Generation(2, THIRD)})
    assert not parse_key_file(document).endorsed_by(stranger)
    for change in (
        {"endorsed_by": 1},
        {"endorsed_by": None},
        {"endorsement": None},
        {"endorsement": base64.b64encode(bytes(64)).decode()},
        {"public_key": made({1: FIRST})["public_key"]},
        {"key_id": "0" * 16},
        {"repository_id": "f" * 32},
    ):
        assert not parse_key_file({**document, **change}).endorsed_by(keys), change


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"repository_format": 3}, "key file is damaged (repository_format)"),
        ({"anchor": "x"}, "key file is damaged (anchor)"),
        ({"anchor": []}, "key file is damaged (anchor)"),
        ({"anchor": ["AAAA"] * 1001}, "key file is damaged (anchor)"),
        ({"anchor": ["AAAA"]}, "key file is damaged (anchor is 3 bytes, not 32)"),
        ({"repository_id": ""}, "key file is damaged (repository_id missing or not text)"),
        ({"key_id": 5}, "key file is damaged (key_id missing or not text)"),
        ({"public_key": "AAAA"}, "key file is damaged (public_key is 3 bytes, not 32)"),
        ({"nonce": "AAAA"}, "key file is damaged (nonce is 3 bytes, not 12)"),
        ({"wrapped_key": "AAAA"}, "key file is damaged (wrapped_key is 3 bytes, not 48)"),
    ],
    ids=[
        "newer-repository",
        "anchor-not-a-list",
        "no-anchor",
        "anchor-over-1000",
        "anchor-short",
        "no-repository",
        "key-id-not-text",
        "public-key-short",
        "nonce-short",
        "wrapped-key-short",
    ],
)
def test_a_damaged_key_file_is_refused_word_for_word(change: dict, line: str) -> None:
    with pytest.raises(KeyFileRefused) as error:
        parse_key_file({**made({1: FIRST}), **change})
    assert str(error.value) == line


def test_a_kind_this_drtool_does_not_know_and_a_label_not_text() -> None:
    with pytest.raises(UnsupportedFormat) as error:
        parse_key_file({**made({1: FIRST}), "kind": "x" * 40})
    assert str(error.value) == f"key file kind {'x' * 32!r} is not supported by this drtool"
    assert parse_key_file({**made({1: FIRST}), "label": 5}).label == ""
    assert parse_key_file({k: v for k, v in made({1: FIRST}).items() if k != "label"}).label == ""
    assert parse_key_file(made({1: FIRST})).label == "label"
    with pytest.raises(KeyFileRefused, match="anchor"):
        parse_key_file({k: v for k, v in made({1: FIRST}).items() if k != "anchor"})
    document = made({1: FIRST})
    assert len(parse_key_file({**document, "anchor": document["anchor"] * 1000}).anchor) == 1000
