"""A reader key file whose key encryption key AWS KMS keeps: GenerateDataKey makes it (the
file stores only its KMS ciphertext), Decrypt returns it, under an encryption context naming the
repository and the key file, so a ciphertext moved to another key file or repository does not
decrypt. DescribeKey first, so that a disabled or deleted key is said in one line (exit 12)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from drtool.errors import KeyFileRefused, KeyUnavailable

MAX_CIPHERTEXT = 6144  # KMS ciphertext blobs are at most 6 KiB


def _client() -> Any:
    import boto3  # lazily: a passphrase-only host never pays for it

    return boto3.client("kms")


def _context(repository_id: str, key_id: str) -> dict[str, str]:
    return {"drtool-repository": repository_id, "drtool-key": key_id}


def _call(arn: str, action: str, **arguments: Any) -> Any:
    """One KMS request; every failure is one line naming the key and KMS's error code."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = _client()
    try:
        state = client.describe_key(KeyId=arn)["KeyMetadata"].get("KeyState", "Enabled")
        if state != "Enabled":
            raise KeyUnavailable(f"KMS key {arn} is {state}: it cannot unlock the repository")
        return getattr(client, action)(KeyId=arn, **arguments)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise KeyUnavailable(f"KMS key {arn}: {code}") from None
    except BotoCoreError as error:
        raise KeyUnavailable(f"KMS key {arn}: {error.__class__.__name__}") from None


def kms_kek(arn: str, repository_id: str, key_id: str) -> tuple[bytes, dict[str, Any]]:
    """A new key encryption key from KMS key ``arn``, and the ``kms`` field that finds it."""
    response = _call(
        arn,
        "generate_data_key",
        KeySpec="AES_256",
        EncryptionContext=_context(repository_id, key_id),
    )
    fields = {
        "kms": {
            "key_id": arn,
            "encrypted_kek": base64.b64encode(response["CiphertextBlob"]).decode("ascii"),
        }
    }
    return response["Plaintext"], fields


def kek_from_kms(document: dict[str, Any], repository_id: str, key_id: str) -> bytes:
    """The key encryption key of a KMS key file, from KMS; raise KeyUnavailable or
    KeyFileRefused."""
    fields = document.get("kms")
    try:
        if not isinstance(fields, dict) or not isinstance(fields.get("key_id"), str):
            raise ValueError
        arn = fields["key_id"][:2048]
        ciphertext = base64.b64decode(fields["encrypted_kek"], validate=True)
        if not 1 <= len(ciphertext) <= MAX_CIPHERTEXT:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise KeyFileRefused(f"KMS key file {key_id} is damaged") from None
    response = _call(
        arn, "decrypt", CiphertextBlob=ciphertext, EncryptionContext=_context(repository_id, key_id)
    )
    kek = response["Plaintext"]
    if len(kek) != 32:
        raise KeyFileRefused(f"KMS key file {key_id} is damaged (a key of {len(kek)} bytes)")
    return kek
