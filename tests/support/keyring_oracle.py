"""Format 2's keys derived by hand from docs/FORMAT.md ("Keys, format 2") with the cryptography
package, never with drtool/keyring: the oracle the keyring's tests check signatures against."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


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


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def passphrase_kek(passphrase: bytes, document: dict[str, Any]) -> bytes:
    """Argon2id of ``passphrase`` with the parameters and salt of a key file's ``kdf`` field."""
    kdf = document["kdf"]
    return Argon2id(
        salt=b64(kdf["salt"]),
        length=32,
        iterations=kdf["iterations"],
        lanes=kdf["lanes"],
        memory_cost=kdf["memory_kib"],
    ).derive(passphrase)


def entry_aad(repository_id: str, key_id: str, number: int) -> bytes:
    return (
        b"drtool v2 generation\x00"
        + repository_id.encode()
        + b"\x00"
        + key_id.encode()
        + b"\x00"
        + number.to_bytes(4, "big")
    )


def key_file_private(
    document: dict[str, Any], repository_id: str, key_id: str, kek: bytes
) -> X25519PrivateKey:
    """A key file's private key, unwrapped with ``kek`` and the AAD FORMAT.md gives."""
    aad = (
        b"drtool key v2\x00"
        + repository_id.encode()
        + b"\x002\x00"
        + key_id.encode()
        + b"\x00"
        + document["kind"].encode()
        + b"\x00"
        + b64(document["public_key"])
        + b"".join(b64(item) for item in document["anchor"])
    )
    private_bytes = AESGCM(kek).decrypt(b64(document["nonce"]), b64(document["wrapped_key"]), aad)
    private = X25519PrivateKey.from_private_bytes(private_bytes)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public == b64(document["public_key"])
    return private


def unsealed(
    document: dict[str, Any], repository_id: str, key_id: str, kek: bytes, number: int
) -> bytes:
    """Generation ``number``'s secret in a key file, unsealed with ``kek``."""
    private = key_file_private(document, repository_id, key_id, kek)
    sealed = b64(document["generations"][number - 1]["sealed"])
    assert len(sealed) == 80
    ephemeral = sealed[:32]
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    key = hkdf(shared, b"drtool v2 generation seal" + ephemeral + b64(document["public_key"]))
    return AESGCM(key).decrypt(bytes(12), sealed[32:], entry_aad(repository_id, key_id, number))
