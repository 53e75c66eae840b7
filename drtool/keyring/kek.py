"""Where a reader key file's key encryption key comes from: Argon2id of a passphrase (with
format 1's caps: a key file is repository data, and any host may have written it)."""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from drtool.errors import KeyFileRefused
from drtool.keys import KdfParameters


def passphrase_kek(
    passphrase: bytes, kdf: KdfParameters | None = None
) -> tuple[bytes, dict[str, Any]]:
    """A new key encryption key from ``passphrase``, and the ``kdf`` field that finds it again."""
    kdf = (kdf or KdfParameters()).check()
    salt = os.urandom(16)
    fields = {
        "kdf": {
            "name": "argon2id",
            "salt": base64.b64encode(salt).decode("ascii"),
            "iterations": kdf.iterations,
            "lanes": kdf.lanes,
            "memory_kib": kdf.memory_kib,
        }
    }
    return kdf.derive(passphrase, salt), fields


def kdf_of(document: dict[str, Any]) -> tuple[KdfParameters, bytes]:
    """The checked Argon2id parameters and salt of a key file; raise KeyFileRefused."""
    fields = document.get("kdf")
    try:
        if not isinstance(fields, dict) or fields.get("name") != "argon2id":
            raise ValueError("kdf")
        kdf = KdfParameters(
            iterations=fields["iterations"], lanes=fields["lanes"], memory_kib=fields["memory_kib"]
        )
        salt = base64.b64decode(fields["salt"], validate=True)
        if not 8 <= len(salt) <= 64:
            raise ValueError("salt")
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise KeyFileRefused(f"key file is damaged ({error.__class__.__name__})") from None
    return kdf.check(), salt


def kek_from_passphrase(document: dict[str, Any], passphrase: bytes) -> bytes:
    kdf, salt = kdf_of(document)
    return kdf.derive(passphrase, salt)
