"""A generation of the keyring: one 32-byte secret and every key derived from it.

``drtool init`` makes generation 1; ``drtool key rotate`` adds the next. Old generations stay
known to every reader, so that old snapshots restore; nothing is re-encrypted by a rotation.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from drtool.keyring.primitives import SECRET_BYTES, hkdf, raw_public

DATA_KEY_WRAP = b"drtool v2 data key wrap"


def content_id_key(id_secret: bytes, host: str) -> bytes:
    """The key naming host ``host``'s blobs: a host can compute its own ids, no other's."""
    return hkdf(id_secret, b"drtool v2 content id" + host.encode())


@dataclass(frozen=True, repr=False)
class Generation:
    """The keys of generation ``number``; ``secret`` is known only to readers."""

    number: int
    secret: bytes = field(repr=False)
    # Derived once per host: a restore verifies each of its hundreds of blobs with these.
    _content_id_keys: dict[str, bytes] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def new(cls, number: int) -> Generation:
        return cls(number, secrets.token_bytes(SECRET_BYTES))

    @property
    def reader_key(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(hkdf(self.secret, b"drtool v2 reader key"))

    @property
    def reader_public(self) -> bytes:
        return raw_public(self.reader_key)

    @cached_property
    def id_secret(self) -> bytes:
        return hkdf(self.secret, b"drtool v2 id secret")

    @property
    def operator_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(hkdf(self.secret, b"drtool v2 operator key"))

    @property
    def operator_public(self) -> bytes:
        return raw_public(self.operator_key)

    def host_signing_key(self, host: str) -> Ed25519PrivateKey:
        """The key an operator (a passphrase holder) signs host ``host``'s manifests with."""
        seed = hkdf(self.secret, b"drtool v2 host signing" + host.encode())
        return Ed25519PrivateKey.from_private_bytes(seed)

    def content_id_key(self, host: str) -> bytes:
        if host not in self._content_id_keys:
            self._content_id_keys[host] = content_id_key(self.id_secret, host)
        return self._content_id_keys[host]

    def __repr__(self) -> str:
        return f"Generation({self.number}, <redacted>)"


def generation_bytes(number: int) -> bytes:
    return struct.pack(">I", number)
