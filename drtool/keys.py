"""The repository's keys: a random master key, wrapped by passphrases through Argon2id.

See docs/FORMAT.md, section "Keys". Nothing here ever logs or writes a key in clear.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from drtool.errors import IntegrityError, KeyFileRefused, KeyUnavailable, UnsupportedFormat
from drtool.timeutil import utc_now_iso

KEY_FORMAT = 1
MASTER_KEY_BYTES = 32
# The most a key file may ask of the machine unlocking it: a key file is repository data, and
# any host of the fleet can write one. Above these, it is refused before anything is derived.
MAX_KDF_MEMORY_KIB = 1024 * 1024
MAX_KDF_ITERATIONS = 10
MAX_KDF_LANES = 16


@dataclass(frozen=True)
class KdfParameters:
    """Argon2id cost; the defaults are RFC 9106's second recommended option."""

    iterations: int = 3
    lanes: int = 4
    memory_kib: int = 64 * 1024

    def check(self) -> KdfParameters:
        """Return these parameters if they are within the caps; raise KeyFileRefused if not."""
        values = (self.iterations, self.lanes, self.memory_kib)
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            raise KeyFileRefused("key file is damaged (KDF parameters must be integers)")
        if not (
            1 <= self.iterations <= MAX_KDF_ITERATIONS
            and 1 <= self.lanes <= MAX_KDF_LANES
            and 8 * self.lanes <= self.memory_kib <= MAX_KDF_MEMORY_KIB
        ):
            raise KeyFileRefused(
                f"key file asks for Argon2id with {self.iterations} passes, {self.lanes} lanes "
                f"and {self.memory_kib} KiB: refused (at most {MAX_KDF_ITERATIONS} passes, "
                f"{MAX_KDF_LANES} lanes, {MAX_KDF_MEMORY_KIB // 1024} MiB)"
            )
        return self

    def derive(self, passphrase: bytes, salt: bytes) -> bytes:
        return Argon2id(
            salt=salt,
            length=32,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        ).derive(passphrase)


@dataclass(frozen=True)
class MasterKey:
    """The unlocked master key and the subkeys derived from it."""

    wrap_key: bytes
    id_key: bytes
    record_key: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> MasterKey:
        return cls(
            wrap_key=_hkdf(secret, b"drtool v1 object-key wrap"),
            id_key=_hkdf(secret, b"drtool v1 content id"),
            record_key=_hkdf(secret, b"drtool v1 record authentication"),
        )

    can_read = True  # format 1 has one key: whoever holds it reads and writes everything

    # The RepositoryKeys seam (drtool/format.py): format 1 wraps each object's data key with
    # AES-256-GCM under wrap_key (a 12-byte nonce, then the 48-byte wrapped key).
    wrapped_size = 12 + MASTER_KEY_BYTES + 16
    object_version = 1

    def wrap_data_key(self, data_key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.wrap_key).encrypt(nonce, data_key, aad)

    def unwrap_data_key(self, wrapped: bytes, aad: bytes) -> bytes:
        """Return the data key; raise InvalidTag if ``wrapped`` or ``aad`` was altered."""
        return AESGCM(self.wrap_key).decrypt(wrapped[:12], wrapped[12:], aad)

    def content_id_key(self, host: str) -> bytes:  # format 1: one key for every host
        return self.id_key

    def content_id_keys(self, host: str) -> list[bytes]:
        return [self.id_key]

    # Operator records (forget's tombstones): format 1 authenticates them with HMAC-SHA256 under
    # its own subkey; format 2 signs them with the generation's Ed25519 operator key.
    def sign_record(self, message: bytes) -> bytes:
        return hmac.new(self.record_key, message, "sha256").digest()

    def verify_record(self, message: bytes, signature: bytes) -> None:
        """Return if ``signature`` authenticates ``message``; raise IntegrityError if not."""
        if not hmac.compare_digest(self.sign_record(message), signature):
            raise IntegrityError("an operator record failed authentication")

    def __repr__(self) -> str:  # never let a key reach a log or a traceback
        return "MasterKey(<redacted>)"


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _key_file_aad(repository_id: str, repository_format: int, key_id: str) -> bytes:
    fields = (repository_id, str(repository_format), key_id)
    return b"drtool key v1\x00" + b"\x00".join(field.encode() for field in fields)


def new_master_secret() -> bytes:
    return secrets.token_bytes(MASTER_KEY_BYTES)


def new_key_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class KeyFileHeader:
    """The clear, authenticated part of a key file: which repository, which format."""

    repository_id: str
    repository_format: int
    key_id: str


def wrap_master_secret(
    secret: bytes, passphrase: bytes, header: KeyFileHeader, kdf: KdfParameters | None = None
) -> bytes:
    """Given the master secret and a passphrase, return the JSON bytes of a key file."""
    kdf = (kdf or KdfParameters()).check()
    salt = os.urandom(16)
    nonce = os.urandom(12)
    kek = kdf.derive(passphrase, salt)
    aad = _key_file_aad(header.repository_id, header.repository_format, header.key_id)
    wrapped = AESGCM(kek).encrypt(nonce, secret, aad)
    document = {
        "format": KEY_FORMAT,
        "repository_id": header.repository_id,
        "repository_format": header.repository_format,
        "key_id": header.key_id,
        "created": utc_now_iso(),
        "kdf": {
            "name": "argon2id",
            "salt": _b64(salt),
            "iterations": kdf.iterations,
            "lanes": kdf.lanes,
            "memory_kib": kdf.memory_kib,
        },
        "nonce": _b64(nonce),
        "wrapped_key": _b64(wrapped),
    }
    return json.dumps(document, indent=2).encode() + b"\n"


def read_key_file_header(key_file: bytes, supported_repository_format: int) -> KeyFileHeader:
    """Return the header of a key file; raise UnsupportedFormat for a newer repository."""
    header = _header(_key_document(key_file))
    if header.repository_format > supported_repository_format:
        raise UnsupportedFormat(
            f"repository format {header.repository_format} is newer than this drtool "
            f"(reads {supported_repository_format}); upgrade drtool"
        )
    return header


def unwrap_master_secret(key_file: bytes, passphrase: bytes) -> tuple[KeyFileHeader, bytes]:
    """Given a key file and a passphrase, return its header and the master secret.

    Raise KeyUnavailable if the passphrase is wrong or the key file is damaged.
    """
    document = _key_document(key_file)
    header = _header(document)
    try:
        kdf_fields = document["kdf"]
        kdf = KdfParameters(
            iterations=kdf_fields["iterations"],
            lanes=kdf_fields["lanes"],
            memory_kib=kdf_fields["memory_kib"],
        )
        salt = base64.b64decode(kdf_fields["salt"], validate=True)
        nonce = base64.b64decode(document["nonce"], validate=True)
        wrapped = base64.b64decode(document["wrapped_key"], validate=True)
        if not 8 <= len(salt) <= 64 or len(nonce) != 12 or len(wrapped) != MASTER_KEY_BYTES + 16:
            raise ValueError("salt, nonce or wrapped key of the wrong length")
    except (ValueError, KeyError, TypeError) as error:
        raise KeyFileRefused(f"key file is damaged ({error.__class__.__name__})") from None
    kdf.check()
    kek = kdf.derive(passphrase, salt)
    aad = _key_file_aad(header.repository_id, header.repository_format, header.key_id)
    try:
        return header, AESGCM(kek).decrypt(nonce, wrapped, aad)
    except InvalidTag:
        raise KeyUnavailable("wrong passphrase") from None


def _header(document: dict[str, Any]) -> KeyFileHeader:
    try:
        return KeyFileHeader(
            repository_id=str(document["repository_id"]),
            repository_format=int(document["repository_format"]),
            key_id=str(document["key_id"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise KeyFileRefused(f"key file is damaged ({error.__class__.__name__})") from None


def key_file_json(key_file: bytes) -> dict[str, Any]:
    """The JSON object of a key file (any format); raise KeyFileRefused for anything else."""
    try:
        document = json.loads(key_file)
        if not isinstance(document, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError) as error:
        raise KeyFileRefused(f"key file is damaged ({error.__class__.__name__})") from None
    return document


def _key_document(key_file: bytes) -> dict[str, Any]:
    document = key_file_json(key_file)
    kdf = document.get("kdf")
    named = kdf.get("name") if isinstance(kdf, dict) else None
    if document.get("format") != KEY_FORMAT or named != "argon2id":
        raise UnsupportedFormat(
            f"key file format {document.get('format')!r} is not supported by this drtool"
        )
    return document


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
