"""drtool/keyring/kms.py against a real boto3 KMS client given botocore's Stubber
(tests/support/kms_stub.py): each request's parameters as KMS receives them (the key, the
encryption context naming the repository and the key file, the ciphertext), what each answer
becomes, and every refusal word for word. A damaged KMS field is refused before any request."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from drtool.errors import KeyFileRefused, KeyUnavailable
from drtool.keyring.kms import kek_from_kms, kms_kek
from tests.support.kms_stub import ARN, enabled, stubbed_kms

REPOSITORY, KEY_ID = "0123456789abcdef0123456789abcdef", "fedcba9876543210"
CONTEXT = {"drtool-repository": REPOSITORY, "drtool-key": KEY_ID}
KEK = bytes(range(32))
CIPHERTEXT, CIPHERTEXT_B64 = b"ciphertext", "Y2lwaGVydGV4dA=="


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    with stubbed_kms(monkeypatch) as stubber:
        yield stubber


def decrypts(kms: Stubber, ciphertext: bytes = CIPHERTEXT, plaintext: bytes = KEK) -> None:
    enabled(kms)
    kms.add_response(
        "decrypt",
        {"Plaintext": plaintext, "KeyId": ARN},
        {"KeyId": ARN, "CiphertextBlob": ciphertext, "EncryptionContext": CONTEXT},
    )


def key_file(fields: object) -> dict:
    return {"format": 2, "kind": "kms", "kms": fields}


def test_a_new_kek_is_kmss_data_key_and_the_field_keeps_its_ciphertext(kms: Stubber) -> None:
    enabled(kms)
    kms.add_response(
        "generate_data_key",
        {"CiphertextBlob": CIPHERTEXT, "Plaintext": KEK, "KeyId": ARN},
        {"KeyId": ARN, "KeySpec": "AES_256", "EncryptionContext": CONTEXT},
    )
    assert kms_kek(ARN, REPOSITORY, KEY_ID) == (
        KEK,
        {"kms": {"key_id": ARN, "encrypted_kek": CIPHERTEXT_B64}},
    )


def test_the_kek_is_decrypted_under_the_key_files_context(kms: Stubber) -> None:
    decrypts(kms)
    fields = {"key_id": ARN, "encrypted_kek": CIPHERTEXT_B64}
    assert kek_from_kms(key_file(fields), REPOSITORY, KEY_ID) == KEK


@pytest.mark.parametrize("size", [1, 6144])
def test_ciphertexts_of_1_to_6144_bytes_are_sent(kms: Stubber, size: int) -> None:
    ciphertext = b"\xff" * size
    decrypts(kms, ciphertext)
    fields = {"key_id": ARN, "encrypted_kek": base64.b64encode(ciphertext).decode()}
    assert kek_from_kms(key_file(fields), REPOSITORY, KEY_ID) == KEK


def test_a_key_id_is_cut_at_2048_characters(kms: Stubber) -> None:
    long_arn = ARN + "x" * 3000
    kms.add_response("describe_key", {"KeyMetadata": {"KeyId": ARN}}, {"KeyId": long_arn[:2048]})
    kms.add_response(
        "decrypt",
        {"Plaintext": KEK},
        {"KeyId": long_arn[:2048], "CiphertextBlob": CIPHERTEXT, "EncryptionContext": CONTEXT},
    )
    fields = {"key_id": long_arn, "encrypted_kek": CIPHERTEXT_B64}
    assert kek_from_kms(key_file(fields), REPOSITORY, KEY_ID) == KEK


@pytest.mark.parametrize(
    "fields",
    [
        None,
        "x",
        [ARN],
        {"encrypted_kek": CIPHERTEXT_B64},
        {"key_id": 5, "encrypted_kek": CIPHERTEXT_B64},
        {"key_id": ARN},
        {"key_id": ARN, "encrypted_kek": 5},
        {"key_id": ARN, "encrypted_kek": ""},
        {"key_id": ARN, "encrypted_kek": "Y2lw aGVydGV4dA=="},
        {"key_id": ARN, "encrypted_kek": "!!!!"},
        {"key_id": ARN, "encrypted_kek": "/" * 8196},  # 6147 bytes
        {"key_id": ARN, "encrypted_kek": "/" * 8192 + "/w=="},  # 6145 bytes
    ],
)
def test_a_damaged_kms_field_is_refused_before_any_request(kms: Stubber, fields: object) -> None:
    with pytest.raises(KeyFileRefused) as refused:
        kek_from_kms(key_file(fields), REPOSITORY, KEY_ID)
    assert str(refused.value) == f"KMS key file {KEY_ID} is damaged"


def test_no_kms_field_at_all(kms: Stubber) -> None:
    with pytest.raises(KeyFileRefused) as refused:
        kek_from_kms({"format": 2, "kind": "kms"}, REPOSITORY, KEY_ID)
    assert str(refused.value) == f"KMS key file {KEY_ID} is damaged"


@pytest.mark.parametrize("size", [16, 31, 33])
def test_a_kek_that_is_not_32_bytes_is_refused(kms: Stubber, size: int) -> None:
    decrypts(kms, plaintext=b"k" * size)
    fields = {"key_id": ARN, "encrypted_kek": CIPHERTEXT_B64}
    with pytest.raises(KeyFileRefused) as refused:
        kek_from_kms(key_file(fields), REPOSITORY, KEY_ID)
    assert str(refused.value) == f"KMS key file {KEY_ID} is damaged (a key of {size} bytes)"


@pytest.mark.parametrize("state", ["Disabled", "PendingDeletion"])
def test_a_key_not_enabled_is_said_and_asked_nothing_more(kms: Stubber, state: str) -> None:
    enabled(kms, state=state)
    with pytest.raises(KeyUnavailable) as refused:
        kms_kek(ARN, REPOSITORY, KEY_ID)
    assert str(refused.value) == f"KMS key {ARN} is {state}: it cannot unlock the repository"


def test_a_key_whose_state_is_not_said_is_taken_as_enabled(kms: Stubber) -> None:
    enabled(kms, state=None)
    kms.add_response(
        "decrypt",
        {"Plaintext": KEK},
        {"KeyId": ARN, "CiphertextBlob": CIPHERTEXT, "EncryptionContext": CONTEXT},
    )
    fields = {"key_id": ARN, "encrypted_kek": CIPHERTEXT_B64}
    assert kek_from_kms(key_file(fields), REPOSITORY, KEY_ID) == KEK


def test_kms_errors_are_one_line_with_their_code(kms: Stubber) -> None:
    kms.add_client_error("describe_key", "NotFoundException", "Key not found", 400)
    with pytest.raises(KeyUnavailable) as refused:
        kms_kek(ARN, REPOSITORY, KEY_ID)
    assert str(refused.value) == f"KMS key {ARN}: NotFoundException"
    assert refused.value.__cause__ is None
    enabled(kms)
    kms.add_client_error("decrypt", "InvalidCiphertextException", "", 400)
    fields = {"key_id": ARN, "encrypted_kek": CIPHERTEXT_B64}
    with pytest.raises(KeyUnavailable) as refused:
        kek_from_kms(key_file(fields), REPOSITORY, KEY_ID)
    assert str(refused.value) == f"KMS key {ARN}: InvalidCiphertextException"


def test_no_credentials_is_one_line_naming_the_botocore_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A real boto3 client, no Stubber: with no credentials anywhere, botocore refuses to sign
    the first request, so nothing is sent."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(KeyUnavailable) as refused:
        kms_kek(ARN, REPOSITORY, KEY_ID)
    assert str(refused.value) == f"KMS key {ARN}: NoCredentialsError"
