"""The operators' record of revoked writers, ``revocations``: signed by an operator key and
numbered, rewritten (number + 1) by every ``key remove`` of a writer and ``key rotate``.

A writer's registration (``writers/<id>``) says when it was revoked, but a stolen host that
kept the registration it read before can put it back: it was validly signed then. So a reader
takes a writer's revocation from the record too, and remembers the newest record it saw
(drtool/seen.py): a record older than that one, or none at all once it saw one, is refused
(exit 14). A reader that never saw the record cannot tell an old one from the newest.
docs/FORMAT.md, "Revoked writers", gives every byte.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from drtool.errors import IntegrityError, KeyFileRefused, KeyUnavailable, ObjectMissing
from drtool.keyring.access import ReaderKeys
from drtool.keyring.registration import Registration, check_key_id
from drtool.keyring.signatures import canonical
from drtool.store import Store
from drtool.timeutil import parse_iso

log = logging.getLogger(__name__)

REVOCATIONS = "revocations"
MAX_RECORD = 1024 * 1024  # some 15,000 writers: a larger one is not drtool's
_MESSAGE = b"drtool revocations\x00"
_WHAT = "the record of revoked writers (revocations)"
_REWRITE = " (`drtool key remove` of a revoked writer, or `key rotate`, writes a new one)"


@dataclass(frozen=True)
class Revocations:
    """Revoked writers (id -> when), as of record number ``sequence`` (0: no record)."""

    sequence: int = 0
    writers: Mapping[str, str] = field(default_factory=dict)

    def merged(self, other: Revocations) -> Revocations:
        """Both together: the higher number, every writer, each at its earlier revocation."""
        writers = dict(self.writers)
        for writer_id, revoked in other.writers.items():
            if writer_id not in writers or parse_iso(revoked) < parse_iso(writers[writer_id]):
                writers[writer_id] = revoked
        return Revocations(max(self.sequence, other.sequence), writers)

    def revoked(self, registration: Registration) -> Registration:
        """``registration`` revoked at the earlier of its own time and this record's."""
        known = self.writers.get(registration.writer_id)
        if known is None:
            return registration
        if registration.revoked is not None and _before(registration.revoked, known):
            return registration
        return replace(registration, revoked=known)


def _before(first: str, second: str) -> bool:
    try:
        return parse_iso(first) <= parse_iso(second)
    except ValueError:
        return False


def parse_writers(value: object) -> dict[str, str]:
    """A ``writers`` object: key ids mapped to UTC times; raise ValueError for anything else."""
    if not isinstance(value, dict):
        raise ValueError("writers")
    for writer_id, revoked in value.items():
        try:
            check_key_id(str(writer_id))
        except KeyFileRefused:
            raise ValueError("writer id") from None
        parse_iso(str(revoked))
    return {str(writer_id): str(revoked) for writer_id, revoked in value.items()}


def _message(repository_id: str, revocations: Revocations) -> bytes:
    fields = {
        "format": 2,
        "kind": "revocations",
        "repository_id": repository_id,
        "sequence": revocations.sequence,
        "writers": dict(revocations.writers),
    }
    return _MESSAGE + canonical(fields)


def read_revocations(store: Store, keys: ReaderKeys, repository_id: str) -> Revocations:
    """The repository's record (number 0 and nobody if there is none); raise IntegrityError
    for one that is damaged or not signed by an operator key of the keyring."""
    try:
        with store.open(REVOCATIONS) as stream:
            data = stream.read(MAX_RECORD + 1)
    except ObjectMissing:
        return Revocations()
    try:
        if len(data) > MAX_RECORD:
            raise ValueError("size")
        document: Any = json.loads(data)
        sequence = document["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise ValueError("sequence")
        found = Revocations(sequence, parse_writers(document["writers"]))
        signature = base64.b64decode(str(document["signature"]), validate=True)
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error):
        raise IntegrityError(f"{_WHAT} is damaged{_REWRITE}") from None
    try:
        keys.verify_record(_message(repository_id, found), signature)
    except IntegrityError:
        raise IntegrityError(f"{_WHAT} is not signed by an operator key{_REWRITE}") from None
    return found


class Memory(Protocol):
    """This machine's memory of the newest record it saw (drtool/seen.py)."""

    revocations: Revocations

    def remember(self, revocations: Revocations) -> None: ...


@dataclass
class KnownRevocations:
    """What one reader knows of revoked writers in one run: the repository's record, never
    older than the one this machine remembers, merged with what it remembers."""

    store: Store
    keys: ReaderKeys
    repository_id: str
    memory: Callable[[], Memory] | None = None
    _known: Revocations | None = None
    _memory: Memory | None = None

    def current(self) -> Revocations:
        """Raise IntegrityError if the record is damaged, or older than the one remembered."""
        if self._known is None:
            found = read_revocations(self.store, self.keys, self.repository_id)
            remembered = self._remembered()
            if found.sequence < remembered.sequence:
                what = f"number {found.sequence}" if found.sequence else "missing"
                raise IntegrityError(
                    f"{_WHAT} is {what}, older than number {remembered.sequence} this machine "
                    f"saw: rolled back or deleted by someone who can write the storage{_REWRITE}"
                )
            self._known = found.merged(remembered)
            self._remember(self._known)
        return self._known

    def applied(self, registration: Registration) -> Registration:
        """``registration`` with every revocation known of it; a revocation seen in a
        registration is remembered too (one revoked before the record existed)."""
        revoked = self.current().revoked(registration)
        if revoked.revoked is not None:
            self._remember(Revocations(0, {revoked.writer_id: revoked.revoked}))
        return revoked

    def publish(self, revoked: Mapping[str, str]) -> None:
        """Write the next record with ``revoked`` added (``key remove``, ``key rotate``): on
        top of the repository's if it verifies, and of what this machine remembers."""
        if not isinstance(self.keys, ReaderKeys):
            raise KeyUnavailable("only an operator key signs the record of revoked writers")
        try:
            base = read_revocations(self.store, self.keys, self.repository_id)
        except IntegrityError as error:
            log.warning("%s: rewritten from what this machine knows", error)
            base = Revocations()
        base = base.merged(self._remembered()).merged(Revocations(0, dict(revoked)))
        # Knowing no number (the record deleted, no memory of it here): the clock in microseconds,
        # above any number a reader has seen.
        number = base.sequence + 1 if base.sequence else time.time_ns() // 1000
        record = Revocations(number, base.writers)
        signature = self.keys.sign_record(_message(self.repository_id, record))
        document = {
            "format": 2,
            "kind": "revocations",
            "repository_id": self.repository_id,
            "sequence": record.sequence,
            "writers": dict(sorted(record.writers.items())),
            "signature": base64.b64encode(signature).decode("ascii"),
        }
        self.store.put(REVOCATIONS, [json.dumps(document, indent=2).encode() + b"\n"])
        self._known = record
        self._remember(record)

    def _remembered(self) -> Revocations:
        if self._memory is None and self.memory is not None:
            self._memory = self.memory()
        return self._memory.revocations if self._memory is not None else Revocations()

    def _remember(self, revocations: Revocations) -> None:
        self._remembered()
        if self._memory is not None:
            self._memory.remember(revocations)
