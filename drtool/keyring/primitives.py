"""The few constructions format 2's keys are built from (docs/FORMAT.md, "Keys, format 2").

``seal`` encrypts a 32-byte secret to an X25519 public key: an ephemeral key pair, ECDH, HKDF
and AES-256-GCM. Whoever holds only the public key can seal and never open: that is what makes
a backup host write-only.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from drtool.errors import KeyFileRefused

SECRET_BYTES = 32
PUBLIC_BYTES = 32
SIGNATURE_BYTES = 64
SEALED_BYTES = PUBLIC_BYTES + SECRET_BYTES + 16  # ephemeral public key, secret, GCM tag
_NONCE = bytes(12)  # every sealing key is used once (a fresh ephemeral key): a fixed nonce


def hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def raw_public(key: X25519PrivateKey | Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()  # not .public_bytes(): no serialization module


def seal(secret: bytes, recipient: bytes, info: bytes, aad: bytes) -> bytes:
    """Encrypt ``secret`` to the X25519 public key ``recipient``: ephemeral public || ciphertext."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = raw_public(ephemeral)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    key = hkdf(shared, info + ephemeral_public + recipient)
    return ephemeral_public + AESGCM(key).encrypt(_NONCE, secret, aad)


def unseal(sealed: bytes, private: X25519PrivateKey, info: bytes, aad: bytes) -> bytes:
    """Reverse ``seal``; raise InvalidTag if anything was altered or it was sealed to another."""
    if len(sealed) != SEALED_BYTES:
        raise InvalidTag
    ephemeral_public, ciphertext = sealed[:PUBLIC_BYTES], sealed[PUBLIC_BYTES:]
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    except ValueError:  # a low-order point: the all-zero shared secret is refused
        raise InvalidTag from None
    key = hkdf(shared, info + ephemeral_public + raw_public(private))
    return AESGCM(key).decrypt(_NONCE, ciphertext, aad)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def field_bytes(document: dict[str, Any], name: str, size: int, what: str) -> bytes:
    """The base64 field ``name`` of ``document``, exactly ``size`` bytes; else KeyFileRefused."""
    value = document.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError
        data = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise KeyFileRefused(f"{what} is damaged ({name} is not base64)") from None
    if len(data) != size:
        raise KeyFileRefused(f"{what} is damaged ({name} is {len(data)} bytes, not {size})")
    return data


def field_text(document: dict[str, Any], name: str, what: str, limit: int = 256) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise KeyFileRefused(f"{what} is damaged ({name} missing or not text)")
    return value


def field_int(document: dict[str, Any], name: str, what: str) -> int:
    value = document.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**31:
        raise KeyFileRefused(f"{what} is damaged ({name} is not a positive integer)")
    return value
