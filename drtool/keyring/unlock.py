"""How a repository learns its keys: a reader key file opened by the passphrase (format 1 or
2), or a writer credential (format 2). The config is not needed to unlock: each key file
carries, authenticated, the repository's id and format."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from drtool import testpoint
from drtool.background import Background
from drtool.errors import (
    KeyAttemptsExceeded,
    KeyFileRefused,
    KeyUnavailable,
    ObjectMissing,
    UnsupportedFormat,
)
from drtool.format import RepositoryKeys
from drtool.key_attempts import within_budget
from drtool.keyring.kek import kek_from_passphrase
from drtool.keyring.keyfile import REPOSITORY_FORMAT, parse_key_file
from drtool.keyring.kms import kek_from_kms
from drtool.keys import MasterKey, key_file_json, read_key_file_header, unwrap_master_secret
from drtool.passphrase import PassphraseSource
from drtool.store import Store

log = logging.getLogger(__name__)

NEWEST_FORMAT = REPOSITORY_FORMAT
KEYS = "keys"
# A key file of a thousand generations is about 250 KiB: a larger one is not drtool's.
MAX_KEY_FILE = 1024 * 1024
# Key files named in a warning or an error; the rest are counted.
_NAMED = 4
# Names the KMS key a KMS-only reader trusts: key files naming another are never tried.
KMS_KEY_VARIABLE = "DRTOOL_KMS_KEY_ID"


@dataclass(frozen=True)
class Unlocked:
    repository_id: str
    format: int
    keys: RepositoryKeys


def key_document(key_file: bytes) -> dict[str, Any]:
    """The JSON object of a key file of a format this drtool reads; raise KeyFileRefused for
    a damaged one, UnsupportedFormat for a newer one (before anyone is asked a passphrase)."""
    document = key_file_json(key_file)
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


Readable = tuple[str, bytes, dict[str, Any]]  # a key file's name, bytes and JSON object


@dataclass(frozen=True)
class KeyFiles:
    """The key files of a repository this drtool can try, and one line for each it skipped."""

    readable: list[Readable]
    skipped: list[str]

    def skipped_lines(self) -> list[str]:
        """The first few skipped, then how many more: a planter of many damaged key files does
        not decide how much every command prints."""
        more = len(self.skipped) - _NAMED
        return self.skipped[:_NAMED] + ([f"{more} more key files refused and skipped"] * (more > 0))

    def warn(self) -> None:
        for line in self.skipped_lines():
            log.warning("%s", line)

    def explained(self, error: KeyUnavailable) -> KeyUnavailable:
        """``error``, naming the key files skipped (a planter's many past the budget aside)."""
        if not self.skipped or isinstance(error, KeyAttemptsExceeded):
            return error
        return type(error)(f"{error}; {'; '.join(self.skipped_lines())}")


def read_key_files(store: Store, key_names: list[str]) -> KeyFiles:
    """Read ``key_names``; a file that is damaged (not JSON, wrong fields, too large: anyone
    who can write the storage may plant one) is skipped, named, and never quoted. Raise
    UnsupportedFormat if every key file is of a newer format (before a passphrase is asked)."""
    readable, skipped, newer = [], [], None
    for name in key_names:
        try:
            key_file = _read_capped(store, name)
            document = key_document(key_file)
            if document["format"] == 1:
                read_key_file_header(key_file, 1)
            else:
                parse_key_file(document)
        except UnsupportedFormat as error:
            newer = newer or UnsupportedFormat(f"{name}: {error}")
            skipped.append(f"{name} refused and skipped: {error}")
        except (KeyFileRefused, ObjectMissing) as error:
            skipped.append(f"{name} refused and skipped: {error}")
        else:
            readable.append((name, key_file, document))
    if not readable and newer is not None:
        raise newer
    return KeyFiles(readable, skipped)


def _read_capped(store: Store, name: str) -> bytes:
    with store.open(name) as stream:
        key_file = stream.read(MAX_KEY_FILE + 1)
    if len(key_file) > MAX_KEY_FILE:
        raise KeyFileRefused(f"key file is damaged (larger than {MAX_KEY_FILE // 1024} KiB)")
    return key_file


def unlock_with_passphrase(
    store: Store, passphrase: PassphraseSource, key_names: list[str], kms_key: str | None = None
) -> Unlocked:
    """Unlock with a key file among ``key_names``: first those naming ``kms_key`` (the KMS key
    this host is configured with; no passphrase asked), then the passphrase on each passphrase
    key file; raise KeyUnavailable if none opens. A damaged key file is skipped (a warning
    once one opens, else named in the error)."""
    return start_unlock(store, passphrase, key_names, kms_key).result()


def start_unlock(
    store: Store, passphrase: PassphraseSource, key_names: list[str], kms_key: str | None = None
) -> PendingUnlock:
    """``unlock_with_passphrase``, its Argon2id derivations left running on a thread of their
    own (``result`` waits for them). The key files are read, the KMS asked and the passphrase
    read (a prompt shown) here, in the caller's thread, when and as ``unlock_with_passphrase``
    does: only the derivations, which need nobody, run beside the caller's work."""
    key_files = read_key_files(store, key_names)
    try:
        derivation = _start_any(passphrase, key_files.readable, kms_key)
    except KeyUnavailable as error:
        raise key_files.explained(error) from None
    return PendingUnlock(derivation, key_files)


class PendingUnlock:
    """An unlock whose passphrase derivations may still run; ``result`` waits for them (a wait
    Ctrl-C and SIGTERM interrupt: the thread is a daemon, never waited for at exit) and returns
    the unlocked keys or raises the unlock's one-line error in the caller's thread."""

    def __init__(self, derivation: Background[Unlocked] | Unlocked, key_files: KeyFiles) -> None:
        self._derivation = derivation
        self._key_files = key_files

    def result(self) -> Unlocked:
        if isinstance(self._derivation, Background):
            try:
                unlocked = self._derivation.result()
            except KeyUnavailable as error:
                raise self._key_files.explained(error) from None
            self._derivation = unlocked
            self._key_files.warn()
        return self._derivation

    def __repr__(self) -> str:  # never let a key reach a log or a traceback
        return "PendingUnlock(<redacted>)"


def _start_any(
    passphrase: PassphraseSource, parsed: list[Readable], kms_key: str | None
) -> Background[Unlocked] | Unlocked:
    """The keys, if the configured KMS key opened a key file; else the passphrase read and its
    derivations started. Raise KeyUnavailable for what is known before any derivation."""
    if not parsed:
        raise KeyUnavailable("no key file of the repository can be read")
    refused = ""
    # Only the KMS key the operator configured is the operator's word. Any storage writer can
    # plant a KMS key file naming a KMS key of theirs that this host's AWS credentials may
    # call: tried, it would open a keyring of the planter's (tests/review/).
    kms_files = [(name, document) for name, _, document in parsed if _kms_key_of(document)]
    for name, document in kms_files:
        if kms_key is not None and _kms_key_of(document) == kms_key:
            try:
                key_file = parse_key_file(document)
                kek = kek_from_kms(document, key_file.repository_id, key_file.key_id)
                return Unlocked(key_file.repository_id, REPOSITORY_FORMAT, key_file.unlock(kek))
            except KeyUnavailable as error:
                refused = refused or f"; {name}: {error}"
    untried = "" if refused else _untried([name for name, _ in kms_files], kms_key)
    documents_of = {name: document for name, _key_file, document in parsed}
    passphrase_files = [
        (name, key_file)
        for name, key_file, document in parsed
        if document["format"] == 1 or document.get("kind") == "passphrase"
    ]
    # A planted key file at the maximum KDF cost is tried last, within a bounded total.
    attempts = within_budget(passphrase_files)
    first = next(attempts, None)
    if first is None:
        raise KeyUnavailable(f"no key file opens{refused or untried}")
    try:
        secret_passphrase = passphrase.read()
    except KeyUnavailable as error:
        # a KMS key failed or was not named: say so, not only that no passphrase was given
        failed = f"{refused.removeprefix('; ')}; " if refused else ""
        raise KeyUnavailable(f"{failed}{error}{untried}") from None
    tried = itertools.chain([first], attempts)
    return Background(
        lambda: _derive_any(tried, documents_of, secret_passphrase, refused), "unlock"
    )


def _derive_any(
    attempts: Iterator[tuple[str, bytes]],
    documents_of: dict[str, dict[str, Any]],
    passphrase: bytes,
    refused: str,
) -> Unlocked:
    """The first of ``attempts`` that ``passphrase`` opens; raise KeyUnavailable if none."""
    for name, key_file in attempts:
        testpoint.reached("unlock:deriving")
        try:
            return _unlock(key_file, documents_of[name], passphrase)
        except KeyFileRefused as error:
            refused = refused or f"; {name} refused: {error}"
        except KeyUnavailable:
            continue
    raise KeyUnavailable(f"wrong passphrase (no key file of the repository accepts it){refused}")


def _kms_key_of(document: dict[str, Any]) -> str | None:
    """The KMS key a format-2 KMS key file names (its maker's word), or None."""
    fields = document.get("kms")
    if document["format"] != 2 or document.get("kind") != "kms" or not isinstance(fields, dict):
        return None
    key = fields.get("key_id")
    return key if isinstance(key, str) else None


def _untried(names: list[str], kms_key: str | None) -> str:
    """Why the KMS key files ``names`` were not tried: none names the configured KMS key."""
    if not names:
        return ""
    more = len(names) - _NAMED
    shown = ", ".join(names[:_NAMED]) + (f" and {more} more" if more > 0 else "")
    configured = "names none of them" if kms_key else "is not set"
    return (
        f"; KMS key files ({shown}) are tried only for the KMS key {KMS_KEY_VARIABLE} names: "
        f"it {configured}"
    )


def _unlock(key_file: bytes, document: dict[str, Any], passphrase: bytes) -> Unlocked:
    if document["format"] == 1:
        header, secret = unwrap_master_secret(key_file, passphrase)
        return Unlocked(header.repository_id, 1, MasterKey.from_secret(secret))
    parsed = parse_key_file(document)
    keys = parsed.unlock(kek_from_passphrase(document, passphrase))
    return Unlocked(parsed.repository_id, REPOSITORY_FORMAT, keys)
