"""Format 2's keys derived by hand from docs/FORMAT.md ("Keys, format 2") with the cryptography
package, never with drtool/keyring: the oracle the keyring's tests check signatures against."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hkdf(secret: bytes, info: bytes) -> bytes:
    """HKDF-SHA256, no salt, length 32."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def operator_key(secret: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hkdf(secret, b"drtool v2 operator key"))


def host_signing_key(secret: bytes, host: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        hkdf(secret, b"drtool v2 host signing" + host.encode())
    )


def check_signature(public: Ed25519PublicKey, signature: str, message: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` (base64) is ``public``'s over ``message``."""
    public.verify(base64.b64decode(signature, validate=True), message)
