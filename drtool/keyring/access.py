"""Format 2's RepositoryKeys (drtool/format.py): a reader, who holds every generation's secret,
and a writer, who holds one generation's public key, its host's content-id key and its host's
signing key. Both wrap an object's data key to the generation's X25519 public key; only the
reader can unwrap it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drtool.errors import IntegrityError, KeyUnavailable
from drtool.keyring.generation import DATA_KEY_WRAP, Generation, generation_bytes
from drtool.keyring.primitives import SEALED_BYTES, seal, unseal

OBJECT_VERSION = 2
WRAPPED_SIZE = 4 + SEALED_BYTES
WRITE_ONLY = "this host's credential can only write: it decrypts nothing in the repository"
_RECORD = b"drtool v2 operator record\x00"


def _wrap(number: int, public: bytes, data_key: bytes, aad: bytes) -> bytes:
    prefix = generation_bytes(number)
    return prefix + seal(data_key, public, DATA_KEY_WRAP, aad + prefix)


@dataclass(frozen=True, repr=False)
class ReaderKeys:
    """Every generation of the keyring, unlocked: reads and writes anything."""

    generations: Mapping[int, Generation] = field(repr=False)
    key_id: str = ""  # the key file that unlocked them

    wrapped_size = WRAPPED_SIZE
    object_version = OBJECT_VERSION
    can_read = True

    @property
    def current(self) -> Generation:
        return self.generations[max(self.generations)]

    def wrap_data_key(self, data_key: bytes, aad: bytes) -> bytes:
        current = self.current
        return _wrap(current.number, current.reader_public, data_key, aad)

    def unwrap_data_key(self, wrapped: bytes, aad: bytes) -> bytes:
        """Return the data key; raise InvalidTag if altered or of a generation not held."""
        (number,) = struct.unpack(">I", wrapped[:4])
        generation = self.generations.get(number)
        if generation is None:
            raise InvalidTag
        return unseal(wrapped[4:], generation.reader_key, DATA_KEY_WRAP, aad + wrapped[:4])

    def content_id_key(self, host: str) -> bytes:
        return self.current.content_id_key(host)

    def content_id_keys(self, host: str) -> list[bytes]:
        """Every generation's content-id key of ``host``, newest first: an object stored
        before a rotation is named under its generation's key (check verifies it with each)."""
        numbers = sorted(self.generations, reverse=True)
        return [self.generations[number].content_id_key(host) for number in numbers]

    def sign_record(self, message: bytes) -> bytes:
        """Sign an operator's record (forget's tombstone) with the current operator key."""
        return self.current.operator_key.sign(_RECORD + message)

    def verify_record(self, message: bytes, signature: bytes) -> None:
        """Return if any generation's operator key signed ``message``; raise IntegrityError."""
        for generation in self.generations.values():
            if verify(generation.operator_public, _RECORD + message, signature):
                return
        raise IntegrityError("an operator record failed authentication")

    def __repr__(self) -> str:
        return "ReaderKeys(<redacted>)"


@dataclass(frozen=True, repr=False)
class WriterKeys:
    """A write-only host's credential: it wraps, signs its own manifests, and reads nothing."""

    host: str
    writer_id: str
    generation: int
    reader_public: bytes
    id_key: bytes = field(repr=False)
    signing_key: Ed25519PrivateKey = field(repr=False)

    wrapped_size = WRAPPED_SIZE
    object_version = OBJECT_VERSION
    can_read = False

    def wrap_data_key(self, data_key: bytes, aad: bytes) -> bytes:
        return _wrap(self.generation, self.reader_public, data_key, aad)

    def unwrap_data_key(self, wrapped: bytes, aad: bytes) -> bytes:
        raise KeyUnavailable(WRITE_ONLY)

    def content_id_key(self, host: str) -> bytes:
        if host != self.host:
            raise KeyUnavailable(f"this credential writes for host {self.host} only, not {host}")
        return self.id_key

    def content_id_keys(self, host: str) -> list[bytes]:
        return [self.content_id_key(host)]

    def sign_record(self, message: bytes) -> bytes:
        raise KeyUnavailable("a writer credential cannot sign an operator's record")

    def verify_record(self, message: bytes, signature: bytes) -> None:
        raise KeyUnavailable(WRITE_ONLY)

    def __repr__(self) -> str:
        return f"WriterKeys({self.host}, <redacted>)"


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
