"""How a repository learns its keys: a reader key file opened by the passphrase (format 1 or
2), or a writer credential (format 2). The config is not needed to unlock: each key file
carries, authenticated, the repository's id and format."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from drtool.errors import KeyFileRefused, KeyUnavailable, UnsupportedFormat
from drtool.format import RepositoryKeys
from drtool.keyring.kek import kek_from_passphrase
from drtool.keyring.keyfile import REPOSITORY_FORMAT, parse_key_file
from drtool.keys import MasterKey, read_key_file_header, unwrap_master_secret
from drtool.passphrase import PassphraseSource
from drtool.store import Store

NEWEST_FORMAT = REPOSITORY_FORMAT
KEYS = "keys"


@dataclass(frozen=True)
class Unlocked:
    repository_id: str
    format: int
    keys: RepositoryKeys


def key_document(key_file: bytes) -> dict[str, Any]:
    """The JSON object of a key file of a format this drtool reads; raise KeyFileRefused for
    a damaged one, UnsupportedFormat for a newer one (before anyone is asked a passphrase)."""
    try:
        document = json.loads(key_file)
        if not isinstance(document, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError) as error:
        raise KeyFileRefused(f"key file is damaged ({error.__class__.__name__})") from None
    repository_format = document.get("repository_format")
    if isinstance(repository_format, int) and repository_format > NEWEST_FORMAT:
        raise UnsupportedFormat(
            f"repository format {repository_format} is newer than this drtool "
            f"(reads {NEWEST_FORMAT}); upgrade drtool"
        )
    if document.get("format") not in (1, 2):
        raise UnsupportedFormat(
            f"key file format {document.get('format')!r} is not supported by this drtool"
        )
    return document


def unlock_with_passphrase(store: Store, passphrase: PassphraseSource) -> Unlocked:
    """Try the passphrase on each reader key file; raise KeyUnavailable if none accepts it."""
    key_names = list(store.list(KEYS))
    if not key_names:
        raise KeyUnavailable(f"{store.location} holds no key file")
    secret_passphrase = b""
    refused = ""
    for name in key_names:
        key_file = store.get(name)
        document = key_document(key_file)
        if document["format"] == 1:
            read_key_file_header(key_file, 1)
        secret_passphrase = secret_passphrase or passphrase.read()
        try:
            return _unlock(key_file, document, secret_passphrase)
        except KeyFileRefused as error:
            refused = refused or f"; {name} refused: {error}"
        except KeyUnavailable:
            continue
    raise KeyUnavailable(f"wrong passphrase (no key file of the repository accepts it){refused}")


def _unlock(key_file: bytes, document: dict[str, Any], passphrase: bytes) -> Unlocked:
    if document["format"] == 1:
        header, secret = unwrap_master_secret(key_file, passphrase)
        return Unlocked(header.repository_id, 1, MasterKey.from_secret(secret))
    parsed = parse_key_file(document)
    if parsed.kind != "passphrase":
        raise KeyUnavailable(f"key {parsed.key_id} is not a passphrase")
    keys = parsed.unlock(kek_from_passphrase(document, passphrase))
    return Unlocked(parsed.repository_id, REPOSITORY_FORMAT, keys)
