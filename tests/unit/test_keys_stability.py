"""The key file format and the key derivation do not drift: a key file written by this
version (kept here as text) still unwraps, the derived keys are the documented HKDF outputs,
and damaged base64 is refused rather than silently skipped. (Mutants of the HKDF labels, the
key file's associated data and the base64 validation survived every round-trip test.)"""

from __future__ import annotations

import hmac
import json

import pytest

from drtool.errors import IntegrityError, KeyUnavailable
from drtool.keys import KeyFileHeader, MasterKey, read_key_file_header, unwrap_master_secret

SECRET = bytes(range(32))
GOLDEN = b"""{
  "format": 1,
  "repository_id": "repo-a",
  "repository_format": 1,
  "key_id": "0011223344556677",
  "created": "2026-12-07T02:29:35.893116Z",
  "kdf": {
    "name": "argon2id",
    "salt": "qSVUErzsw0Wb4zOl10XxDQ==",
    "iterations": 1,
    "lanes": 1,
    "memory_kib": 8192
  },
  "nonce": "PwwpKRg5aEQ5Ulx9",
  "wrapped_key": "0LnfWbANE3JmzMiwM6R3WKR+cqqwSG8j+24vk/ZkzsfP77hN81DwUustOxeHYMaX"
}
"""
HEADER = KeyFileHeader("repo-a", 1, "0011223344556677")


def test_a_key_file_of_format_1_still_unwraps() -> None:
    assert unwrap_master_secret(GOLDEN, b"pass") == (HEADER, SECRET)


def test_the_derived_keys_are_the_documented_hkdf_outputs() -> None:
    key = MasterKey.from_secret(SECRET)
    assert key.wrap_key.hex() == "4c8ccacd329ec04322229cc66ddb517401736d8cbbe6adf7afa51bba4184212d"
    assert key.id_key.hex() == "7b14e2ad32eeccac4db46568b91698a4e65f6403942fb1321078c3784433be6f"
    assert repr(key) == "MasterKey(<redacted>)"


def hkdf_sha256(secret: bytes, info: bytes) -> bytes:
    """RFC 5869 with no salt (HashLen zero bytes) and one 32-byte block of output."""
    pseudorandom_key = hmac.new(bytes(32), secret, "sha256").digest()
    return hmac.new(pseudorandom_key, info + b"\x01", "sha256").digest()


def test_the_derived_keys_are_hkdf_as_format_md_writes_it() -> None:
    key = MasterKey.from_secret(SECRET)
    assert key.wrap_key == hkdf_sha256(SECRET, b"drtool v1 object-key wrap")
    assert key.id_key == hkdf_sha256(SECRET, b"drtool v1 content id")


def test_an_operator_record_is_hmac_sha256_under_its_documented_subkey() -> None:
    """FORMAT.md, "Operator records": format 1 authenticates a tombstone with
    HMAC-SHA256(HKDF(master key, "drtool v1 record authentication"), message)."""
    record_key = hkdf_sha256(SECRET, b"drtool v1 record authentication")
    expected = hmac.new(record_key, b"tombstone", "sha256").digest()
    key = MasterKey.from_secret(SECRET)
    assert key.sign_record(b"tombstone") == expected
    key.verify_record(b"tombstone", expected)
    with pytest.raises(IntegrityError) as refused:
        key.verify_record(b"tombstone", hmac.new(key.id_key, b"tombstone", "sha256").digest())
    assert str(refused.value) == "an operator record failed authentication"


def test_the_repository_format_this_drtool_reads_is_accepted() -> None:
    assert read_key_file_header(GOLDEN, supported_repository_format=1) == HEADER


@pytest.mark.parametrize("field", ["nonce", "wrapped_key", "salt"])
def test_base64_with_stray_characters_is_refused(field: str) -> None:
    document = json.loads(GOLDEN)
    holder = document["kdf"] if field == "salt" else document
    holder[field] = holder[field][:4] + "!" + holder[field][4:]
    damaged = json.dumps(document).encode()
    with pytest.raises(KeyUnavailable, match=r"^key file is damaged \(.*Error\)$"):
        unwrap_master_secret(damaged, b"pass")


def test_a_wrong_passphrase_says_so() -> None:
    with pytest.raises(KeyUnavailable, match=r"^wrong passphrase$"):
        unwrap_master_secret(GOLDEN, b"not it")
