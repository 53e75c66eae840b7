"""A writer's registration (drtool/keyring/registration.py) against docs/FORMAT.md ("Writers:
credential and registration"): the JSON written, its signature checked with the cryptography
package over bytes written by hand, and every forged or damaged one refused word for word."""

from __future__ import annotations

import base64
import json

import pytest

from drtool.errors import KeyFileRefused
from drtool.keyring.access import ReaderKeys
from drtool.keyring.generation import Generation
from drtool.keyring.registration import (
    Registration,
    check_key_id,
    parse_registration,
    registration_name,
)
from tests.support.keyring_oracle import check_signature, operator_key

FIRST, SECOND = b"\x01" * 32, b"\x02" * 32
KEYS = ReaderKeys({1: Generation(1, FIRST), 2: Generation(2, SECOND)})
WRITER = "0123456789abcdef"
PUBLIC = bytes(range(32))
PUBLIC_B64 = base64.b64encode(PUBLIC).decode()
RECORD = Registration(
    "repo", WRITER, "web-1", "rack 4", "2026-01-01T00:00:00.000000Z", 1, PUBLIC, signed_by=7
)
NOT_SIGNED = f"writer registration {WRITER} is not signed by the keyring"


def message(revoked: str = "null", signed_by: int = 2, label: str = "rack 4") -> bytes:
    return (
        b"drtool v2 writer registration\x00"
        b'{"created":"2026-01-01T00:00:00.000000Z","generation":1,"host":"web-1","label":"'
        + label.encode()
        + b'","repository_id":"repo","revoked":'
        + revoked.encode()
        + b',"signed_by":'
        + str(signed_by).encode()
        + b',"signing_public":"'
        + PUBLIC_B64.encode()
        + b'","writer_id":"0123456789abcdef"}'
    )


def test_the_registration_written_is_signed_by_the_newest_operator_key() -> None:
    data = RECORD.signed(KEYS)
    assert data.endswith(b"}\n")
    document = json.loads(data)
    assert data == json.dumps(document, indent=2).encode() + b"\n"
    signature = document.pop("signature")
    assert document == unsigned_document(revoked=None, signed_by=2)
    check_signature(operator_key(SECOND).public_key(), signature, message())
    assert parse_registration(data, KEYS, WRITER) == Registration(
        "repo", WRITER, "web-1", "rack 4", "2026-01-01T00:00:00.000000Z", 1, PUBLIC, signed_by=2
    )


def unsigned_document(revoked: object, signed_by: int) -> dict:
    """The fields of web-1's registration as FORMAT.md lists them, written out by hand."""
    return {
        "repository_id": "repo",
        "writer_id": WRITER,
        "host": "web-1",
        "label": "rack 4",
        "created": "2026-01-01T00:00:00.000000Z",
        "generation": 1,
        "signing_public": PUBLIC_B64,
        "revoked": revoked,
        "signed_by": signed_by,
        "format": 2,
        "kind": "writer",
    }


def hand_signed(
    revoked: object = None, signed_by: int = 1, changed: dict | None = None, **fields: object
) -> bytes:
    """A registration signed by generation ``signed_by``'s operator key by hand, then
    ``fields`` and ``changed`` put in."""
    text = "null" if revoked is None else json.dumps(revoked)
    secret = {1: FIRST, 2: SECOND}[signed_by]
    signature = operator_key(secret).sign(message(text, signed_by))
    document = {
        **unsigned_document(revoked, signed_by),
        "signature": base64.b64encode(signature).decode(),
    }
    return json.dumps({**document, **fields, **(changed or {})}).encode()


def test_a_registration_signed_by_an_older_generation_is_read_with_its_revocation() -> None:
    revoked = "2026-02-01T00:00:00.000000Z"
    record = parse_registration(hand_signed(revoked), KEYS, WRITER)
    assert (record.revoked, record.signed_by, record.signing_public) == (revoked, 1, PUBLIC)


def refusal(data: bytes, writer_id: str = WRITER) -> str:
    with pytest.raises(KeyFileRefused) as refused:
        parse_registration(data, KEYS, writer_id)
    return str(refused.value)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"not json", f"writer registration {WRITER} is not readable JSON"),
        (b"[" * 100_000, f"writer registration {WRITER} is not readable JSON"),
        (b"[]", f"writer registration {WRITER} is not readable JSON"),
        (hand_signed(host="web-2"), NOT_SIGNED),
        (hand_signed(generation=2), NOT_SIGNED),
        (hand_signed(label="rack 5"), NOT_SIGNED),
        (hand_signed(created="2026-01-01T00:00:00.000001Z"), NOT_SIGNED),
        (hand_signed(repository_id="other"), NOT_SIGNED),
        (hand_signed("2026-02-01T00:00:00.000000Z", changed={"revoked": None}), NOT_SIGNED),
        (hand_signed(signed_by=2, changed={"signed_by": 1}), NOT_SIGNED),
        (hand_signed(changed={"signed_by": 3}), NOT_SIGNED),
        (hand_signed(signing_public=base64.b64encode(bytes(32)).decode()), NOT_SIGNED),
        (
            hand_signed(signature=base64.b64encode(bytes(64)).decode()),
            NOT_SIGNED,
        ),
        (
            hand_signed(signature="AAAA"),
            "writer registration is damaged (signature is 3 bytes, not 64)",
        ),
        (
            hand_signed(signing_public="AAAA"),
            "writer registration is damaged (signing_public is 3 bytes, not 32)",
        ),
        (
            hand_signed(host=""),
            "writer registration is damaged (host missing or not text)",
        ),
        (
            hand_signed(changed={"repository_id": None}),
            "writer registration is damaged (repository_id missing or not text)",
        ),
        (
            hand_signed(changed={"writer_id": 5}),
            "writer registration is damaged (writer_id missing or not text)",
        ),
        (
            hand_signed(changed={"created": "x" * 257}),
            "writer registration is damaged (created missing or not text)",
        ),
        (
            hand_signed(changed={"generation": 0}),
            "writer registration is damaged (generation is not a positive integer)",
        ),
        (
            hand_signed(changed={"signed_by": True}),
            "writer registration is damaged (signed_by is not a positive integer)",
        ),
    ],
    ids=[
        "not-json",
        "too-deep",
        "not-an-object",
        "another-host",
        "another-generation",
        "another-label",
        "another-time",
        "another-repository",
        "the-revocation-dropped",
        "another-signer-named",
        "a-generation-not-held",
        "another-key",
        "a-signature-of-zeros",
        "a-short-signature",
        "a-short-key",
        "no-host",
        "no-repository",
        "writer-id-not-text",
        "time-too-long",
        "generation-0",
        "signer-a-boolean",
    ],
)
def test_a_forged_or_damaged_registration_is_refused_word_for_word(data: bytes, line: str) -> None:
    assert refusal(data) == line


def test_a_registration_under_another_writers_name_is_refused() -> None:
    other = "fedcba9876543210"
    assert refusal(hand_signed(), other) == (
        f"writer registration {other} is not signed by the keyring"
    )


def test_a_long_label_is_cut_to_256_characters_and_a_revocation_not_text_is_none() -> None:
    long_label = "x" * 300
    signature = operator_key(FIRST).sign(message(signed_by=1, label="x" * 256))
    data = hand_signed(label=long_label, signature=base64.b64encode(signature).decode())
    assert parse_registration(data, KEYS, WRITER).label == "x" * 256
    signature = operator_key(FIRST).sign(message(signed_by=1, label=""))
    unlabelled = json.loads(hand_signed(signature=base64.b64encode(signature).decode()))
    del unlabelled["label"]
    assert parse_registration(json.dumps(unlabelled).encode(), KEYS, WRITER).label == ""
    assert parse_registration(hand_signed(changed={"revoked": 5}), KEYS, WRITER).revoked is None


def test_key_ids() -> None:
    assert check_key_id(WRITER) == WRITER
    assert registration_name(WRITER) == f"writers/{WRITER}"
    for bad in ("0123456789ABCDEF", WRITER[:15], WRITER + "0", f"{WRITER}\n", "../" + WRITER):
        with pytest.raises(KeyFileRefused) as refused:
            registration_name(bad)
        assert str(refused.value) == f"{bad!r} is not a key id"
    with pytest.raises(KeyFileRefused) as refused:
        check_key_id("z" * 50)
    assert str(refused.value) == f"{'z' * 40!r} is not a key id"
