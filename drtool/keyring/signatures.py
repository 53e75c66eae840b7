"""Format 2's signed manifests: the sealed payload of a manifest is an envelope
``{"manifest": ..., "signer": ..., "signature": ...}``. The signature (Ed25519) covers the
manifest's canonical JSON, which names its host and id; the signer is

- ``operator:<generation>``: a passphrase holder, with the host signing key every reader
  derives from that generation's secret for the host the manifest names;
- ``writer:<writer-id>``: a write-only host, with the key its registration (``writers/<id>``,
  signed by an operator key) gives to the host the manifest names, unless revoked before the
  manifest's time.

A host's status record (``heads/<host>``) is signed the same way under its own tag (``kind``
``"head"``): its times are its writer's word only, so a revoked writer's head is always refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from drtool.errors import IntegrityError, KeyFileRefused
from drtool.format import RepositoryKeys
from drtool.keyring.access import ReaderKeys, WriterKeys, verify
from drtool.keyring.primitives import raw_public
from drtool.keyring.registration import Registration
from drtool.snapshot import snapshot_time
from drtool.timeutil import parse_iso

MANIFEST, HEAD = "manifest", "head"  # what an envelope holds, and the tag its signature covers


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _message(kind: str, document: dict[str, Any]) -> bytes:
    return f"drtool v2 {kind}".encode() + b"\x00" + canonical(document)


def sign_manifest(
    keys: RepositoryKeys, host: str, manifest: dict[str, Any], kind: str = MANIFEST
) -> dict[str, Any]:
    """The signed envelope of ``manifest`` (or of a head, by ``kind``) of ``host``."""
    message = _message(kind, manifest)
    if isinstance(keys, WriterKeys):
        keys.content_id_key(host)  # a writer signs for its own host only: raises otherwise
        signer, signature = f"writer:{keys.writer_id}", keys.signing_key.sign(message)
    elif isinstance(keys, ReaderKeys):
        current = keys.current
        signer = f"operator:{current.number}"
        signature = current.host_signing_key(host).sign(message)
    else:
        raise TypeError(f"format 2 has no signer for {keys!r}")
    return {
        kind: manifest,
        "signer": signer,
        "signature": base64.b64encode(signature).decode(),
    }


def _written_before(manifest: dict[str, Any], revoked: str) -> bool:
    """Whether both times a manifest claims, its ``time`` and its id's (the one ``latest`` and
    ``--date`` order by), are real times before ``revoked``: a revoked writer cannot name a
    manifest after its revocation and put an old ``time`` (or no time at all) in it."""
    try:
        until = parse_iso(revoked)
        claimed = parse_iso(str(manifest.get("time", "")))
    except ValueError:
        return False
    named = snapshot_time(str(manifest.get("id", "")))
    return named is not None and claimed < until and named < until


def verified_manifest(
    keys: ReaderKeys,
    host: str,
    envelope: object,
    registration: Callable[[str], Registration],
    what: str,
    kind: str = MANIFEST,
) -> dict[str, Any]:
    """The manifest (or head, by ``kind``) of a signed envelope, once its signature is proven
    to be ``host``'s; raise IntegrityError otherwise. ``registration`` returns a writer's
    verified registration."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get(kind), dict):
        raise IntegrityError(f"{what} is not a signed {kind}")
    manifest = envelope[kind]
    signer = envelope.get("signer")
    try:
        signature = base64.b64decode(str(envelope.get("signature")), validate=True)
    except (ValueError, binascii.Error):
        raise IntegrityError(f"{what} has an unreadable signature") from None
    message = _message(kind, manifest)
    signer_kind, _, name = str(signer).partition(":")
    # ASCII digits only, and few: `isdigit` also takes "²", which `int` refuses (a stolen
    # writer's manifest would end in the internal-error line, not exit 14).
    generation = int(name) if name.isascii() and name.isdigit() and len(name) <= 9 else None
    if signer_kind == "operator" and generation is not None and generation in keys.generations:
        public = raw_public(keys.generations[generation].host_signing_key(host))
    elif signer_kind == "writer":
        try:
            writer = registration(name)
        except KeyFileRefused as error:
            raise IntegrityError(f"{what} is signed by writer {name[:32]!r}: {error}") from None
        if writer.host != host:
            raise IntegrityError(
                f"{what} is signed by the writer of host {writer.host}, not of host {host}"
            )
        if writer.revoked and (kind != MANIFEST or not _written_before(manifest, writer.revoked)):
            raise IntegrityError(f"{what} was written by writer {name}, revoked {writer.revoked}")
        public = writer.signing_public
    else:
        raise IntegrityError(f"{what} names an unknown signer {str(signer)[:40]!r}")
    if not verify(public, message, signature):
        raise IntegrityError(f"{what} is not signed by a key of host {host}")
    return manifest
