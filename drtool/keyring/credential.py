"""A writer credential: the file `drtool key add-writer --host H --output FILE` writes (0600)
and `--key-file` / DRTOOL_KEY_FILE names. With it a host backs itself up with no passphrase and
no KDF, and decrypts nothing: it holds the generation's public key, its own content-id key and
its own signing key, never a generation's secret."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drtool.errors import ConfigError, KeyFileRefused, UnsupportedFormat
from drtool.hostname import check_host_name
from drtool.keyring.access import ReaderKeys, WriterKeys
from drtool.keyring.primitives import (
    PUBLIC_BYTES,
    SECRET_BYTES,
    b64,
    field_bytes,
    field_int,
    field_text,
    raw_public,
)
from drtool.keyring.registration import Registration, check_key_id
from drtool.keys import new_key_id
from drtool.timeutil import utc_now_iso

log = logging.getLogger(__name__)

CREDENTIAL_KIND = "writer credential"
_WHAT = "writer credential"
MAX_CREDENTIAL_BYTES = 64 * 1024


@dataclass(frozen=True)
class Credential:
    repository_id: str
    keys: WriterKeys


def new_writer(
    keys: ReaderKeys, repository_id: str, host: str, label: str
) -> tuple[Registration, bytes]:
    """A new writer for ``host``: its registration (to sign and store) and its credential."""
    check_host_name(host)
    generation = keys.current
    signing_key = Ed25519PrivateKey.generate()
    writer_id = new_key_id()
    registration = Registration(
        repository_id=repository_id,
        writer_id=writer_id,
        host=host,
        label=label,
        created=utc_now_iso(),
        generation=generation.number,
        signing_public=raw_public(signing_key),
    )
    document = {
        "format": 2,
        "kind": CREDENTIAL_KIND,
        "repository_id": repository_id,
        "writer_id": writer_id,
        "host": host,
        "generation": generation.number,
        "reader_public": b64(generation.reader_public),
        "content_id_key": b64(generation.content_id_key(host)),
        "signing_key": b64(signing_key.private_bytes_raw()),
    }
    return registration, json.dumps(document, indent=2).encode() + b"\n"


def write_credential(path: Path, credential: bytes) -> None:
    """Write a new credential file, 0600 from its first byte; never over an existing file."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists: choose another --output") from None
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "wb") as output:
        output.write(credential)


def read_credential(path: Path) -> Credential:
    """The writer credential in ``path``; raise KeyFileRefused (exit 12) in one line for any
    damage, without naming a byte of it."""
    try:
        with path.open("rb") as source:
            loose = os.fstat(source.fileno()).st_mode & 0o077
            data = source.read(MAX_CREDENTIAL_BYTES + 1)
    except OSError as error:
        raise KeyFileRefused(f"cannot read the key file {path}: {error.strerror}") from None
    if len(data) > MAX_CREDENTIAL_BYTES:
        raise KeyFileRefused(f"the key file {path} is too large to be a writer credential")
    try:
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ValueError
    except (ValueError, RecursionError):
        raise KeyFileRefused(f"the key file {path} is not a writer credential (not JSON)") from None
    if document.get("format") != 2 or document.get("kind") != CREDENTIAL_KIND:
        raise UnsupportedFormat(f"the key file {path} is not a writer credential of format 2")
    host = field_text(document, "host", _WHAT)
    try:
        check_host_name(host)
    except ConfigError:
        raise KeyFileRefused(f"{_WHAT} {path} names an invalid host") from None
    signing = field_bytes(document, "signing_key", SECRET_BYTES, _WHAT)
    keys = WriterKeys(
        host=host,
        writer_id=check_key_id(field_text(document, "writer_id", _WHAT)),
        generation=field_int(document, "generation", _WHAT),
        reader_public=field_bytes(document, "reader_public", PUBLIC_BYTES, _WHAT),
        id_key=field_bytes(document, "content_id_key", SECRET_BYTES, _WHAT),
        signing_key=Ed25519PrivateKey.from_private_bytes(signing),
    )
    if loose:  # as a passphrase file: said, not refused (the host's backups go on)
        log.warning("key file %s is readable by others; chmod 600 it", path)
    return Credential(field_text(document, "repository_id", _WHAT), keys)
