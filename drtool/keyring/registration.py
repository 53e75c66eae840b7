"""A writer's registration, ``writers/<writer-id>``: the host a write-only credential backs up
and the Ed25519 key its manifests are signed with, signed by an operator key. ``key remove``
rewrites it with ``revoked`` set (signed again): manifests dated from then on are refused."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace

from drtool.errors import KeyFileRefused
from drtool.keyring.access import ReaderKeys, verify
from drtool.keyring.primitives import PUBLIC_BYTES, b64, field_bytes, field_int, field_text

WRITERS = "writers"
_WHAT = "writer registration"
_REGISTRATION = b"drtool v2 writer registration\x00"


_KEY_ID = re.compile(r"[0-9a-f]{16}")


def check_key_id(key_id: str) -> str:
    """Return ``key_id`` if it has the form of a key's id; raise KeyFileRefused if not."""
    if not _KEY_ID.fullmatch(key_id):
        raise KeyFileRefused(f"{key_id[:40]!r} is not a key id")
    return key_id


def registration_name(writer_id: str) -> str:
    return f"{WRITERS}/{check_key_id(writer_id)}"


@dataclass(frozen=True)
class Registration:
    repository_id: str
    writer_id: str
    host: str
    label: str
    created: str
    generation: int  # the keyring generation the credential wraps to
    signing_public: bytes
    revoked: str | None = None  # when ``key remove`` or ``key rotate`` revoked it
    signed_by: int = 1

    def _message(self) -> bytes:
        fields = asdict(self)
        fields["signing_public"] = b64(self.signing_public)
        return _REGISTRATION + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, keys: ReaderKeys) -> bytes:
        """The JSON of this registration, signed by the current operator key."""
        record = replace(self, signed_by=keys.current.number)
        document = {
            **asdict(record),
            "format": 2,
            "kind": "writer",
            "signing_public": b64(record.signing_public),
            "signature": b64(keys.current.operator_key.sign(record._message())),
        }
        return json.dumps(document, indent=2).encode() + b"\n"


def parse_registration(data: bytes, keys: ReaderKeys, writer_id: str) -> Registration:
    """The registration of ``writer_id`` once its operator signature is verified; raise
    KeyFileRefused for a damaged, forged or misplaced one."""
    try:
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ValueError
    except (ValueError, RecursionError):
        raise KeyFileRefused(f"{_WHAT} {writer_id} is not readable JSON") from None
    revoked = document.get("revoked")
    record = Registration(
        repository_id=field_text(document, "repository_id", _WHAT),
        writer_id=field_text(document, "writer_id", _WHAT),
        host=field_text(document, "host", _WHAT),
        label=str(document.get("label", ""))[:256],
        created=field_text(document, "created", _WHAT),
        generation=field_int(document, "generation", _WHAT),
        signing_public=field_bytes(document, "signing_public", PUBLIC_BYTES, _WHAT),
        revoked=revoked if isinstance(revoked, str) else None,
        signed_by=field_int(document, "signed_by", _WHAT),
    )
    signature = field_bytes(document, "signature", 64, _WHAT)
    signer = keys.generations.get(record.signed_by)
    if (
        signer is None
        or record.writer_id != writer_id
        or not verify(signer.operator_public, record._message(), signature)
    ):
        raise KeyFileRefused(f"{_WHAT} {writer_id} is not signed by the keyring")
    return record
