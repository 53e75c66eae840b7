"""A format-2 reader key file, ``keys/<key-id>``: one passphrase's (or one KMS key's) access to
every generation of the keyring.

The file has its own X25519 key pair. Its private half is wrapped (AES-256-GCM) by a key
encryption key: Argon2id of the passphrase, or a KMS data key. Each generation's secret is
sealed to its public half, so ``key rotate`` can hand a new generation to every key file without
knowing their passphrases. What a reader trusts: the generations whose operator public keys the
wrapped key authenticates (``anchor``), then each later generation signed by the operator key
of the one before. docs/FORMAT.md, "Keys, format 2", gives every field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from drtool.errors import KeyFileRefused, KeyUnavailable, UnsupportedFormat
from drtool.keyring.access import ReaderKeys, verify
from drtool.keyring.generation import Generation, generation_bytes
from drtool.keyring.primitives import (
    PUBLIC_BYTES,
    SEALED_BYTES,
    SECRET_BYTES,
    SIGNATURE_BYTES,
    b64,
    field_bytes,
    field_int,
    field_text,
    raw_public,
    seal,
    unseal,
)
from drtool.timeutil import utc_now_iso

KEY_FILE_FORMAT = 2
REPOSITORY_FORMAT = 2
READER_KINDS = ("passphrase", "kms")
MAX_GENERATIONS = 1000
_SEAL = b"drtool v2 generation seal"
_ENDORSEMENT = b"drtool v2 key file\x00"
_WHAT = "key file"


@dataclass(frozen=True)
class ReaderKeyFile:
    """A parsed, still locked reader key file."""

    document: dict[str, Any]
    repository_id: str
    key_id: str
    kind: str
    label: str
    public_key: bytes
    anchor: tuple[bytes, ...]
    nonce: bytes
    wrapped_key: bytes

    def aad(self) -> bytes:
        fields = (self.repository_id, str(REPOSITORY_FORMAT), self.key_id, self.kind)
        clear = b"\x00".join(field.encode() for field in fields)
        return b"drtool key v2\x00" + clear + b"\x00" + self.public_key + b"".join(self.anchor)

    def unlock(self, kek: bytes) -> ReaderKeys:
        """Given the key encryption key, return every generation this file opens.

        Raise KeyUnavailable if ``kek`` is wrong, KeyFileRefused if a generation was tampered.
        """
        try:
            private_bytes = AESGCM(kek).decrypt(self.nonce, self.wrapped_key, self.aad())
        except InvalidTag:
            raise KeyUnavailable("wrong passphrase") from None
        return ReaderKeys(
            self._generations(X25519PrivateKey.from_private_bytes(private_bytes)), self.key_id
        )

    def _generations(self, private: X25519PrivateKey) -> dict[int, Generation]:
        entries = self.document.get("generations")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_GENERATIONS:
            raise KeyFileRefused(f"{_WHAT} {self.key_id} is damaged (no generations)")
        generations: dict[int, Generation] = {}
        for expected, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict) or field_int(entry, "generation", _WHAT) != expected:
                raise KeyFileRefused(f"{_WHAT} {self.key_id} is damaged (generations out of order)")
            sealed = field_bytes(entry, "sealed", SEALED_BYTES, _WHAT)
            aad = self._entry_aad(expected)
            try:
                generation = Generation(expected, unseal(sealed, private, _SEAL, aad))
            except InvalidTag:
                raise KeyFileRefused(
                    f"{_WHAT} {self.key_id}: generation {expected} fails authentication"
                ) from None
            if expected <= len(self.anchor):
                trusted = generation.operator_public == self.anchor[expected - 1]
            else:
                signature = field_bytes(entry, "signature", SIGNATURE_BYTES, _WHAT)
                signer = generations[expected - 1].operator_public
                trusted = verify(signer, aad + sealed, signature)
            if not trusted:
                raise KeyFileRefused(
                    f"{_WHAT} {self.key_id}: generation {expected} is not signed by the keyring"
                )
            generations[expected] = generation
        return generations

    def _entry_aad(self, number: int) -> bytes:
        fields = (self.repository_id, self.key_id)
        return (
            b"drtool v2 generation\x00"
            + b"\x00".join(field.encode() for field in fields)
            + b"\x00"
            + generation_bytes(number)
        )

    def endorsement_message(self) -> bytes:
        """What a reader signs when it makes this key file: the repository, the key's id and
        its public key (the key ``key rotate`` seals the next generation to)."""
        fields = (self.repository_id, self.key_id)
        return _ENDORSEMENT + b"\x00".join(field.encode() for field in fields) + self.public_key

    def endorsed_by(self, keys: ReaderKeys) -> bool:
        """Whether an operator key of ``keys`` signed this key file when a reader made it: a
        key file anyone may have planted in keys/ (its anchor and wrapped key are its maker's
        word) is never given a generation."""
        try:
            number = field_int(self.document, "endorsed_by", _WHAT)
            signature = field_bytes(self.document, "endorsement", SIGNATURE_BYTES, _WHAT)
        except KeyFileRefused:
            return False
        signer = keys.generations.get(number)
        return signer is not None and verify(
            signer.operator_public, self.endorsement_message(), signature
        )

    def with_generation(self, new: Generation, previous: Generation) -> bytes:
        """The JSON of this key file with generation ``new`` sealed to it, signed by
        ``previous``'s operator key (``key rotate``; no passphrase needed)."""
        aad = self._entry_aad(new.number)
        sealed = seal(new.secret, self.public_key, _SEAL, aad)
        entry = {
            "generation": new.number,
            "sealed": b64(sealed),
            "signature": b64(previous.operator_key.sign(aad + sealed)),
        }
        document = {**self.document, "generations": [*self.document["generations"], entry]}
        return _encode(document)


def new_key_file(
    repository_id: str,
    key_id: str,
    kind: str,
    label: str,
    kek: bytes,
    generations: Mapping[int, Generation],
    unlock_fields: Mapping[str, Any],
) -> bytes:
    """The JSON bytes of a new reader key file opening ``generations``, its private key wrapped
    by ``kek``; ``unlock_fields`` say how to find ``kek`` again (``kdf`` or ``kms``)."""
    private = X25519PrivateKey.generate()
    locked = ReaderKeyFile(
        document={},
        repository_id=repository_id,
        key_id=key_id,
        kind=kind,
        label=label,
        public_key=raw_public(private),
        anchor=tuple(generations[n].operator_public for n in sorted(generations)),
        nonce=os.urandom(12),
        wrapped_key=b"",
    )
    wrapped = AESGCM(kek).encrypt(locked.nonce, private.private_bytes_raw(), locked.aad())
    entries = [
        {
            "generation": number,
            "sealed": b64(
                seal(
                    generations[number].secret, locked.public_key, _SEAL, locked._entry_aad(number)
                )
            ),
        }
        for number in sorted(generations)
    ]
    document = {
        "format": KEY_FILE_FORMAT,
        "repository_id": repository_id,
        "repository_format": REPOSITORY_FORMAT,
        "key_id": key_id,
        "kind": kind,
        "label": label,
        "created": utc_now_iso(),
        **unlock_fields,
        "public_key": b64(locked.public_key),
        "anchor": [b64(public) for public in locked.anchor],
        "nonce": b64(locked.nonce),
        "wrapped_key": b64(wrapped),
        "generations": entries,
        "endorsed_by": max(generations),
        "endorsement": b64(
            generations[max(generations)].operator_key.sign(locked.endorsement_message())
        ),
    }
    return _encode(document)


def parse_key_file(document: dict[str, Any]) -> ReaderKeyFile:
    """Given the JSON object of a format-2 key file, return it parsed; raise KeyFileRefused."""
    kind = document.get("kind")
    if kind not in READER_KINDS:
        raise UnsupportedFormat(f"key file kind {str(kind)[:32]!r} is not supported by this drtool")
    if document.get("repository_format") != REPOSITORY_FORMAT:
        raise KeyFileRefused(f"{_WHAT} is damaged (repository_format)")
    anchor = document.get("anchor")
    if not isinstance(anchor, list) or not 1 <= len(anchor) <= MAX_GENERATIONS:
        raise KeyFileRefused(f"{_WHAT} is damaged (anchor)")
    label = document.get("label", "")
    return ReaderKeyFile(
        document=document,
        repository_id=field_text(document, "repository_id", _WHAT),
        key_id=field_text(document, "key_id", _WHAT),
        kind=kind,
        label=label if isinstance(label, str) else "",
        public_key=field_bytes(document, "public_key", PUBLIC_BYTES, _WHAT),
        anchor=tuple(
            field_bytes({"anchor": item}, "anchor", PUBLIC_BYTES, _WHAT) for item in anchor
        ),
        nonce=field_bytes(document, "nonce", 12, _WHAT),
        wrapped_key=field_bytes(document, "wrapped_key", SECRET_BYTES + 16, _WHAT),
    )


def _encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, indent=2).encode() + b"\n"
