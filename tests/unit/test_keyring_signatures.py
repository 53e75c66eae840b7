"""Format 2's signed manifests and heads (drtool/keyring/signatures.py) against docs/FORMAT.md
("Signed manifests", "Signed heads"): the bytes signed, written by hand, checked with the
cryptography package; every refusal word for word."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drtool.errors import IntegrityError, KeyFileRefused
from drtool.keyring.access import ReaderKeys, WriterKeys
from drtool.keyring.generation import Generation
from drtool.keyring.primitives import raw_public
from drtool.keyring.registration import Registration
from drtool.keyring.signatures import sign_manifest, verified_manifest
from tests.support.keyring_oracle import check_signature, host_signing_key

FIRST, SECOND = b"\x01" * 32, b"\x02" * 32
KEYS = ReaderKeys({1: Generation(1, FIRST), 2: Generation(2, SECOND)})
WRITER_ID = "0123456789abcdef"
SNAPSHOT = "20250107T021500Z-3fa2c1d0"
MANIFEST = {"time": "2025-01-07T02:15:00.000000Z", "id": SNAPSHOT, "host": "wéb", "n": [1, 2]}
# JSON(manifest, sorted keys, separators "," and ":"), written by hand
CANONICAL = (
    b'{"host":"w\\u00e9b","id":"20250107T021500Z-3fa2c1d0","n":[1,2],'
    b'"time":"2025-01-07T02:15:00.000000Z"}'
)
SIGNING = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
WRITER = WriterKeys("web-1", WRITER_ID, 2, b"\x00" * 32, b"\x00" * 32, SIGNING)


def registration(host: str = "web-1", revoked: str | None = None) -> Registration:
    return Registration(
        "repo", WRITER_ID, host, "", "2025-01-01T00:00:00.000000Z", 2, raw_public(SIGNING), revoked
    )


def verified(envelope: object, host: str = "web-1", kind: str = "manifest", **known) -> dict:
    found = known.get("registration", registration())

    def lookup(writer_id: str) -> Registration:
        if isinstance(found, Exception):
            raise found
        assert writer_id == WRITER_ID
        return found

    return verified_manifest(KEYS, host, envelope, lookup, "manifest m", kind)


def test_an_operator_signs_with_the_newest_generations_host_key_over_the_tagged_json() -> None:
    envelope = sign_manifest(KEYS, "web-1", MANIFEST)
    assert set(envelope) == {"manifest", "signer", "signature"}
    assert (envelope["manifest"], envelope["signer"]) == (MANIFEST, "operator:2")
    public = host_signing_key(SECOND, "web-1").public_key()
    check_signature(public, envelope["signature"], b"drtool v2 manifest\x00" + CANONICAL)
    head = sign_manifest(KEYS, "web-1", MANIFEST, kind="head")
    assert set(head) == {"head", "signer", "signature"}
    check_signature(public, head["signature"], b"drtool v2 head\x00" + CANONICAL)
    assert verified(envelope) == MANIFEST
    assert verified(head, kind="head") == MANIFEST


def test_a_writer_signs_with_its_own_key_for_its_own_host_only() -> None:
    envelope = sign_manifest(WRITER, "web-1", MANIFEST)
    assert envelope["signer"] == f"writer:{WRITER_ID}"
    check_signature(
        SIGNING.public_key(), envelope["signature"], b"drtool v2 manifest\x00" + CANONICAL
    )
    assert verified(envelope) == MANIFEST
    with pytest.raises(Exception, match="for host web-1 only, not web-2"):
        sign_manifest(WRITER, "web-2", MANIFEST)
    with pytest.raises(TypeError, match=r"^format 2 has no signer for 'x'$"):
        sign_manifest("x", "web-1", MANIFEST)  # type: ignore[arg-type]


def test_an_older_generations_operator_signature_is_accepted() -> None:
    signature = host_signing_key(FIRST, "web-1").sign(b"drtool v2 manifest\x00" + CANONICAL)
    envelope = {"manifest": MANIFEST, "signer": "operator:1", "signature": b64(signature)}
    assert verified(envelope) == MANIFEST
    # another generation's key; the same generation with leading zeros, up to 9 digits
    for signer in ("operator:2", "operator:01", "operator:000000001"):
        result = "refused" if signer == "operator:2" else "accepted"
        try:
            verified({**envelope, "signer": signer})
            outcome = "accepted"
        except IntegrityError as error:
            assert str(error) == "manifest m is not signed by a key of host web-1"
            outcome = "refused"
        assert outcome == result, signer


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def operator_envelope(message: bytes, signer: str = "operator:2") -> dict:
    signature = host_signing_key(SECOND, "web-1").sign(message)
    return {"manifest": MANIFEST, "signer": signer, "signature": b64(signature)}


@pytest.mark.parametrize(
    ("envelope", "line"),
    [
        (["manifest"], "manifest m is not a signed manifest"),
        ({"manifest": "x", "signer": "operator:2"}, "manifest m is not a signed manifest"),
        ({"head": MANIFEST}, "manifest m is not a signed manifest"),
        (
            {"manifest": MANIFEST, "signer": "operator:2"},  # "None" is base64 of 3 bytes
            "manifest m is not signed by a key of host web-1",
        ),
        (
            {"manifest": MANIFEST, "signer": "operator:2", "signature": "AAAA!AAA"},
            "manifest m has an unreadable signature",
        ),
        ({"manifest": MANIFEST, "signature": ""}, "manifest m names an unknown signer 'None'"),
        (
            {"manifest": MANIFEST, "signer": "operator:3", "signature": ""},
            "manifest m names an unknown signer 'operator:3'",
        ),
        (
            {"manifest": MANIFEST, "signer": "operator:²", "signature": ""},
            "manifest m names an unknown signer 'operator:²'",
        ),
        (
            {"manifest": MANIFEST, "signer": "operator:0000000002", "signature": ""},
            "manifest m names an unknown signer 'operator:0000000002'",
        ),
        (
            {"manifest": MANIFEST, "signer": "reader:2", "signature": ""},
            "manifest m names an unknown signer 'reader:2'",
        ),
        (
            {"manifest": MANIFEST, "signer": "operator:2" + "x" * 50, "signature": ""},
            "manifest m names an unknown signer 'operator:2" + "x" * 30 + "'",
        ),
        (
            operator_envelope(b"drtool v2 head\x00" + CANONICAL),
            "manifest m is not signed by a key of host web-1",
        ),
        (
            operator_envelope(b"drtool v2 manifest " + CANONICAL),
            "manifest m is not signed by a key of host web-1",
        ),
    ],
    ids=[
        "not-an-object",
        "manifest-not-an-object",
        "a-head-read-as-a-manifest",
        "no-signature",
        "signature-not-strict-base64",
        "no-signer",
        "a-generation-not-held",
        "a-unicode-digit",
        "ten-digits",
        "another-kind-of-signer",
        "a-long-signer-cut",
        "a-heads-signature",
        "another-separator",
    ],
)
def test_refused_word_for_word(envelope: object, line: str) -> None:
    with pytest.raises(IntegrityError) as refused:
        verified(envelope)
    assert str(refused.value) == line


def test_a_padded_base64_signature_with_junk_is_refused_not_cleaned() -> None:
    envelope = sign_manifest(KEYS, "web-1", MANIFEST)
    with pytest.raises(IntegrityError, match=r"^manifest m has an unreadable signature$"):
        verified({**envelope, "signature": "*" + envelope["signature"]})


def test_another_hosts_operator_signature_is_refused() -> None:
    envelope = sign_manifest(KEYS, "web-2", MANIFEST)
    with pytest.raises(IntegrityError, match=r"^manifest m is not signed by a key of host web-1$"):
        verified(envelope)


def test_a_writers_refusals_word_for_word() -> None:
    envelope = sign_manifest(WRITER, "web-1", MANIFEST)
    missing = KeyFileRefused("writer registration is missing")
    with pytest.raises(IntegrityError) as refused:
        verified(envelope, registration=missing)
    assert str(refused.value) == (
        f"manifest m is signed by writer '{WRITER_ID}': writer registration is missing"
    )
    with pytest.raises(IntegrityError) as refused:
        verified(envelope, registration=registration(host="web-2"))
    assert (
        str(refused.value) == "manifest m is signed by the writer of host web-2, not of host web-1"
    )
    forged = {**envelope, "signature": sign_manifest(KEYS, "web-1", MANIFEST)["signature"]}
    with pytest.raises(IntegrityError, match=r"^manifest m is not signed by a key of host web-1$"):
        verified(forged)


LONG_NAME = "writer:" + "a" * 40


def test_a_writer_ids_quoted_at_most_32_characters() -> None:
    missing = KeyFileRefused("x")
    envelope = {"manifest": MANIFEST, "signer": LONG_NAME, "signature": ""}
    with pytest.raises(IntegrityError) as refused:
        verified_manifest(KEYS, "web-1", envelope, _raise(missing), "m")
    assert str(refused.value) == f"m is signed by writer '{'a' * 32}': x"


def test_a_writer_id_is_everything_after_the_first_colon() -> None:
    envelope = {"manifest": MANIFEST, "signer": "writer:0123:4567", "signature": ""}
    refusal = KeyFileRefused("'0123:4567' is not a key id")
    with pytest.raises(IntegrityError) as refused:
        verified_manifest(KEYS, "web-1", envelope, _raise(refusal), "m")
    assert str(refused.value) == "m is signed by writer '0123:4567': '0123:4567' is not a key id"


def _raise(error: Exception):
    def lookup(_writer_id: str) -> Registration:
        raise error

    return lookup


REVOKED = "2025-01-07T02:15:00.000000Z"  # the time SNAPSHOT's id records


@pytest.mark.parametrize(
    ("time", "snapshot", "revoked", "accepted"),
    [
        ("2025-01-07T02:14:59.999999Z", "20250107T021459Z-3fa2c1d0", REVOKED, True),
        ("2025-01-07T02:15:00.000000Z", "20250107T021459Z-3fa2c1d0", REVOKED, False),
        ("2025-01-07T02:14:59.999999Z", SNAPSHOT, REVOKED, False),
        ("2025-01-07T02:14:59.999999Z", "latest", REVOKED, False),
        ("2025-01-07T02:14:59.999999Z", None, REVOKED, False),
        (None, "20250107T021459Z-3fa2c1d0", REVOKED, False),
        ("2025-01-07", "20250107T021459Z-3fa2c1d0", REVOKED, False),
        ("2025-01-07T02:14:59.999999Z", "20250107T021459Z-3fa2c1d0", "2025-01-08", False),
    ],
    ids=[
        "both-before",
        "time-at-the-revocation",
        "id-at-the-revocation",
        "id-records-no-time",
        "no-id",
        "no-time",
        "time-not-iso",
        "revocation-not-iso",
    ],
)
def test_a_revoked_writers_manifest_only_if_both_its_times_are_before(
    time: str | None, snapshot: str | None, revoked: str, accepted: bool
) -> None:
    manifest = {
        key: value for key, value in (("time", time), ("id", snapshot)) if value is not None
    }
    envelope = sign_manifest(WRITER, "web-1", manifest)
    known = registration(revoked=revoked)
    if accepted:
        assert verified(envelope, registration=known) == manifest
        head = sign_manifest(WRITER, "web-1", manifest, kind="head")
        with pytest.raises(IntegrityError) as refused:  # a head's times are its writer's word
            verified(head, kind="head", registration=known)
        assert str(refused.value) == (
            f"manifest m was written by writer {WRITER_ID}, revoked {revoked}"
        )
        return
    with pytest.raises(IntegrityError) as refused:
        verified(envelope, registration=known)
    assert str(refused.value) == f"manifest m was written by writer {WRITER_ID}, revoked {revoked}"
