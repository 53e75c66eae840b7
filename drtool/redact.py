"""Which contents are secret, and what may be shown of the others.

A file is secret as a whole when a kind declares it so (everything under WireGuard's roots), when
``[diff] secret_paths`` names it, or when its content says so: a PEM private key, an htpasswd
file, a bare WireGuard key (``wg genkey > privatekey``). Nothing of a secret file is ever shown:
its diff reads "content changed (redacted)". In the other files, a line setting a secret (``key =
value`` for a key of ``[diff] secret_keys`` or the defaults, a redis ACL password, a WireGuard
``PostUp = wg set … private-key …``) shows ``<redacted>`` in place of its value.

Every place that turns snapshot content into output (diff, dry-run, show, reports) asks
:meth:`Redactor.for_display`; error messages go through :func:`scrub`.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from drtool.errors import SecretWithheld
from drtool.hostpath import is_under

DEFAULT_SECRET_KEYS = ("PrivateKey", "PresharedKey", "requirepass", "masterauth", "password")
REDACTED = "<redacted>"
WITHHELD = "content changed (redacted)"

_PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
# user:hash in every form nginx's auth_basic_user_file reads: Apache MD5, SHA1, bcrypt, crypt(3)
# ($1$, $5$, $6$, yescrypt), {PLAIN} clear text, {SSHA}, and traditional DES crypt (13 chars).
_HTPASSWD_LINE = re.compile(
    rb"^[^:\s#][^:\s]*:(\$apr1\$|\{SHA\}|\{SSHA\}|\{PLAIN\}|\$2[abxy]\$|\$[156y]\$"
    rb"|[./0-9A-Za-z]{13}(:|\r?$))",
    re.M,
)
# A 32-byte key in base64 (WireGuard's private, public and preshared keys).
_WG_KEY = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")
_WG_KEY_FILE = re.compile(rb"\s*[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=\s*")
# redis ACL rules that carry a password: >clear, #sha256, <clear (removal names it too).
_REDIS_ACL_PASSWORD = re.compile(r"(?<=\s)[><#]\S+")
_REDIS_USER_LINE = re.compile(r"^\s*(ACL\s+SETUSER|user)\s", re.IGNORECASE)
_PRIVATE_KEY_ARGUMENT = re.compile(r"(private-key)(\s+)(\S.*)$", re.IGNORECASE)
_PEM_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(-----END [A-Z0-9 ]*-----|$)", re.S
)


def is_secret_content(content: bytes) -> bool:
    """Whether a file's content is secret whatever its path: a PEM private key anywhere in it,
    htpasswd lines, or nothing but one WireGuard key."""
    return bool(
        _PEM_PRIVATE_KEY.search(content)
        or _HTPASSWD_LINE.search(content)
        or _WG_KEY_FILE.fullmatch(content)
    )


class Redactor:
    """What may be shown of a file: nothing of a secret file, secret values blanked in others.

    ``keys``: names of ``key = value`` lines whose value is secret; ``paths``: globs of absolute
    host paths whose files are secret (``[diff] secret_paths``); ``roots``: host-relative roots
    whose every file is secret; ``everything``: every file is (a kind whose files are all
    secret, such as WireGuard's, whatever roots a snapshot gives it).
    """

    def __init__(
        self,
        keys: Iterable[str] = DEFAULT_SECRET_KEYS,
        paths: Iterable[str] = (),
        roots: Iterable[str] = (),
        everything: bool = False,
    ) -> None:
        self.keys = tuple(keys)
        names = "|".join(re.escape(key) for key in self.keys)
        self.pattern = re.compile(rf"^(\s*[#;]?\s*(?:{names})\b\s*[=:]?\s*)(\S.*)$", re.IGNORECASE)
        self.paths = tuple(paths)
        self.roots = tuple(roots)
        self.everything = everything

    @classmethod
    def configured(cls, secret_keys: Sequence[str], secret_paths: Sequence[str]) -> Redactor:
        """The redactor of drtool.toml's ``[diff]`` settings."""
        return cls((*DEFAULT_SECRET_KEYS, *secret_keys), secret_paths)

    def whole(self) -> Redactor:
        """This redactor, withholding every file (for a kind that declares all its files
        secret)."""
        return Redactor(self.keys, self.paths, self.roots, everything=True)

    def is_secret_path(self, path: str) -> bool:
        """Whether ``path`` (relative to the host root) is secret by where it lives."""
        return (
            self.everything
            or any(is_under(path, root) for root in self.roots)
            or any(fnmatch.fnmatchcase(f"/{path}", glob) for glob in self.paths)
        )

    def is_secret(self, path: str, content: bytes | None) -> bool:
        return self.is_secret_path(path) or (content is not None and is_secret_content(content))

    def line(self, text: str) -> str:
        """One line with any secret value it sets replaced by ``<redacted>``."""
        text = self.pattern.sub(rf"\1{REDACTED}", text)
        if _REDIS_USER_LINE.match(text):
            text = _REDIS_ACL_PASSWORD.sub(REDACTED, text)
        return _PRIVATE_KEY_ARGUMENT.sub(rf"\1\2{REDACTED}", text)

    def lines(self, text: str) -> list[str]:
        return [self.line(line) for line in text.splitlines()]

    def for_display(self, path: str, content: bytes) -> list[str] | None:
        """The lines of ``content`` fit to show, secret values replaced; None when the file is
        secret as a whole (show WITHHELD instead). Raise UnicodeDecodeError for binary content."""
        if self.is_secret(path, content):
            return None
        return self.lines(content.decode())


def check_may_print(redactor: Redactor, path: str, content: bytes, secrets: bool) -> None:
    """For a command that prints a file whole (``dump``): raise SecretWithheld if the file is
    secret and the operator did not pass ``--secrets``."""
    if not secrets and redactor.is_secret(path, content):
        raise SecretWithheld(f"/{path} holds a secret: not printed (pass --secrets to print it)")


# The passphrases this process has read: scrub replaces them wherever a message quotes one.
# A shorter one is not looked for (it would blank ordinary words, not protect a secret).
_WITHHELD: set[str] = set()
_SHORTEST_WITHHELD = 4


def withhold(secret: bytes) -> None:
    """Have scrub replace ``secret`` (a passphrase just read) in every later message."""
    text = secret.decode(errors="surrogateescape")
    if len(text) >= _SHORTEST_WITHHELD:
        _WITHHELD.add(text)


def scrub(message: str) -> str:
    """A message (a tool's error, a report line) with key material replaced: PEM private key
    blocks, WireGuard keys, ``private-key`` arguments and the passphrases read (withhold)."""
    for secret in sorted(_WITHHELD, key=len, reverse=True):
        message = message.replace(secret, REDACTED)
    message = _PEM_BLOCK.sub(REDACTED, message)
    message = _WG_KEY.sub(REDACTED, message)
    return _PRIVATE_KEY_ARGUMENT.sub(rf"\1\2{REDACTED}", message)


def scrub_document(document: Any) -> Any:
    """A JSON-like document (a restore's report) with every string passed through scrub."""
    if isinstance(document, str):
        return scrub(document)
    if isinstance(document, dict):
        return {key: scrub_document(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [scrub_document(value) for value in document]
    return document


class ScrubFilter(logging.Filter):
    """A logging filter that passes every record (and its traceback) through :func:`scrub`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip())
        return True
