"""The operations behind `drtool key ...` on a format-2 repository: list, add, passwd, remove,
rotate and the paper key. Each writes whole objects (a key file, a registration) and holds the
repository's exclusive lock (the CLI takes it), so two key changes never interleave."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from drtool.errors import IntegrityError, KeyFileRefused, KeyUnavailable, ObjectMissing
from drtool.keyring.access import ReaderKeys
from drtool.keyring.credential import new_writer
from drtool.keyring.generation import Generation
from drtool.keyring.kek import passphrase_kek
from drtool.keyring.keyfile import ReaderKeyFile, new_key_file, parse_key_file
from drtool.keyring.kms import kms_kek
from drtool.keyring.registration import WRITERS, Registration, check_key_id, registration_name
from drtool.keyring.unlock import KEYS, key_document, read_key_files
from drtool.keys import KdfParameters, new_key_id
from drtool.repository import Repository
from drtool.timeutil import utc_now_iso

log = logging.getLogger(__name__)


def reader_keys(repository: Repository) -> ReaderKeys:
    """The repository's format-2 reader keys; raise KeyUnavailable for format 1 or a writer."""
    if repository.format < 2:
        raise KeyUnavailable(
            "this repository is format 1 (one master key): `drtool key` manages format 2; "
            "make a new repository with `drtool init` to use it"
        )
    if not isinstance(repository.key, ReaderKeys):
        raise KeyUnavailable("this host's credential can only write: it cannot manage keys")
    return repository.key


def reader_key_files(repository: Repository) -> Iterator[ReaderKeyFile]:
    """Every format-2 key file; a damaged one is skipped (the unlock of this command named it;
    `key remove` removes it)."""
    key_files = read_key_files(repository.store, list(repository.store.list(KEYS)))
    for name, _key_file, document in key_files.readable:
        if document["format"] == 2:
            yield parse_key_file(document)
        else:
            log.warning(
                "%s refused and skipped: a format-1 key file in a format-2 repository", name
            )


def registrations(repository: Repository) -> Iterator[Registration]:
    """Every writer whose registration verifies, as the repository holds it. One that does not
    (planted by anyone who can write the storage) is no writer: it is named and skipped, never
    allowed to stop a rotation halfway, its new generation written and the writers after it not
    revoked."""
    for name in repository.store.list(WRITERS):
        # the whole rest of the name: a nested one (writers/x/<id>) is no writer id, so it is
        # named and skipped, never read as a second copy of writer <id>
        writer_id = name.removeprefix(f"{WRITERS}/")
        try:
            yield repository.registration(writer_id)
        except KeyFileRefused as error:
            log.warning("%s: skipped (remove writers/%s)", error, writer_id[:32])


def _known(repository: Repository, registration: Registration) -> Registration:
    """``registration`` revoked as the record of revoked writers says, when that record reads
    (a rolled-back one is refused when a manifest is read, not when keys are managed)."""
    try:
        return repository.revocations.current().revoked(registration)
    except IntegrityError as error:
        log.warning("%s", error)
        return registration


def list_keys(repository: Repository) -> list[dict[str, Any]]:
    """Every key: id, label, kind, host (writers), created, last used, revoked (writers)."""
    keys = reader_keys(repository)
    rows: list[dict[str, Any]] = []
    for key_file in reader_key_files(repository):
        rows.append(
            {
                "id": key_file.key_id,
                "label": _printable(key_file.label),
                "kind": key_file.kind,
                "host": None,
                "created": key_file.document.get("created"),
                "last_used": utc_now_iso() if key_file.key_id == keys.key_id else None,
                "generations": len(key_file.document.get("generations", [])),
                "revoked": None,
                # False: no operator key endorsed it (planted by a storage writer?)
                "endorsed": key_file.endorsed_by(keys),
            }
        )
    for registration in registrations(repository):
        writer = _known(repository, registration)
        newest = repository.snapshot_refs(writer.host)
        rows.append(
            {
                "id": writer.writer_id,
                "label": writer.label,
                "kind": "writer",
                "host": writer.host,
                "created": writer.created,
                "last_used": newest[-1].id if newest else None,
                "generations": writer.generation,
                "revoked": writer.revoked,
                "endorsed": True,  # its registration verified
            }
        )
    return rows


def _printable(text: str) -> str:
    """A key file's label (anyone who can write the storage may have written it) without the
    control characters that would drive the operator's terminal."""
    return "".join(character if character.isprintable() else "?" for character in text)


def add_passphrase_key(
    repository: Repository,
    passphrase: bytes,
    label: str,
    kdf: KdfParameters | None = None,
    key_id: str | None = None,
) -> str:
    """Write a key file opening every generation with ``passphrase``; return its id.
    ``key_id`` names an existing key file to replace (``passwd``)."""
    keys = reader_keys(repository)
    key_id = key_id or new_key_id()
    kek, unlock_fields = passphrase_kek(passphrase, kdf)
    key_file = new_key_file(
        repository.repository_id, key_id, "passphrase", label, kek, keys.generations, unlock_fields
    )
    repository.store.put(f"{KEYS}/{key_id}", [key_file])
    return key_id


def add_kms_key(repository: Repository, arn: str, label: str) -> str:
    """Write a key file opening every generation through KMS key ``arn``; return its id."""
    keys = reader_keys(repository)
    key_id = new_key_id()
    kek, unlock_fields = kms_kek(arn, repository.repository_id, key_id)
    key_file = new_key_file(
        repository.repository_id, key_id, "kms", label, kek, keys.generations, unlock_fields
    )
    repository.store.put(f"{KEYS}/{key_id}", [key_file])
    return key_id


def change_passphrase(
    repository: Repository, passphrase: bytes, key_id: str | None, kdf: KdfParameters | None = None
) -> str:
    """Rewrap key file ``key_id`` (default: the one in use) with a new passphrase."""
    keys = reader_keys(repository)
    key_id = key_id or keys.key_id
    existing = _reader_key_file(repository, key_id)
    if existing.kind != "passphrase":
        raise KeyUnavailable(f"key {key_id} is a {existing.kind} key, not a passphrase")
    return add_passphrase_key(repository, passphrase, existing.label, kdf, key_id)


def remove_key(repository: Repository, key_id: str) -> str:
    """Remove a reader key file, or revoke a writer; return what was done. The last key that
    can read is never removed."""
    keys = reader_keys(repository)
    key_files = list(reader_key_files(repository))
    # every key file, a damaged one included, by the rest of its name (keys/x/<id> is not <id>)
    readers = [name.removeprefix(f"{KEYS}/") for name in repository.store.list(KEYS)]
    # a key file no reader made (planted in keys/) does not count as one that can read
    endorsed = [key_file.key_id for key_file in key_files if key_file.endorsed_by(keys)]
    if key_id in readers:
        if endorsed == [key_id]:
            raise KeyUnavailable(
                f"key {key_id} is the last key that can read this repository: refused "
                "(add another with `drtool key add` first)"
            )
        repository.store.delete(f"{KEYS}/{key_id}")
        return f"removed key {key_id}"
    writer = repository.registration(_known_writer(repository, key_id))
    if writer.revoked:
        repository.revocations.publish({writer.writer_id: writer.revoked})
        return f"writer {key_id} of host {writer.host} was already revoked {writer.revoked}"
    revoked = _revoke(repository, _known(repository, writer))
    repository.revocations.publish(revoked)
    return f"revoked writer {key_id} of host {writer.host}"


def _known_writer(repository: Repository, key_id: str) -> str:
    try:
        known = repository.store.contains(registration_name(key_id))
    except KeyFileRefused:
        known = False
    if not known:
        raise KeyUnavailable(f"no key {key_id[:40]!r} in this repository (see `drtool key list`)")
    return key_id


def _revoke(repository: Repository, writer: Registration) -> dict[str, str]:
    """Rewrite ``writer``'s registration revoked (now, or when the record already says);
    return it as the record of revoked writers lists it."""
    keys = reader_keys(repository)
    revoked = replace(writer, revoked=writer.revoked or utc_now_iso())
    repository.store.put(registration_name(writer.writer_id), [revoked.signed(keys)])
    return {writer.writer_id: str(revoked.revoked)}


@dataclass(frozen=True)
class Rotation:
    generation: int
    key_files: int
    revoked_hosts: tuple[str, ...]
    kept_hosts: tuple[str, ...]


def rotate(repository: Repository, keep_writers: bool = False) -> Rotation:
    """Add the next generation to every reader key file (sealed to each, signed by the current
    operator key: no passphrase needed, nothing re-encrypted); unless ``keep_writers``, revoke
    every writer issued before it."""
    keys = reader_keys(repository)
    previous = keys.current
    new = Generation.new(previous.number + 1)
    key_files = []
    for key_file in reader_key_files(repository):
        if key_file.endorsed_by(keys):
            key_files.append(key_file)
        else:  # planted by someone who can write the storage: never given a generation
            log.warning(
                "key file %s was not made by a reader of this repository: it is not given "
                "the new generation (remove it: drtool key remove %s)",
                key_file.key_id,
                key_file.key_id,
            )
    for key_file in key_files:
        if len(key_file.document.get("generations", [])) != previous.number:
            raise KeyFileRefused(f"key file {key_file.key_id} lacks a generation: refused")
    for key_file in key_files:
        repository.store.put(f"{KEYS}/{key_file.key_id}", [key_file.with_generation(new, previous)])
    revoked, kept, record = [], [], {}
    for writer in registrations(repository):
        if writer.revoked:
            record[writer.writer_id] = writer.revoked
        elif keep_writers:
            kept.append(writer.host)
        else:
            record.update(_revoke(repository, _known(repository, writer)))
            revoked.append(writer.host)
    repository.revocations.publish(record)
    return Rotation(new.number, len(key_files), tuple(sorted(revoked)), tuple(sorted(kept)))


def add_writer(repository: Repository, host: str, label: str) -> tuple[str, bytes]:
    """Register a new writer for ``host``; return its id and its credential's bytes (the
    caller writes them 0600). The registration is stored first: a credential never exists
    for a writer the repository does not know."""
    keys = reader_keys(repository)
    registration, credential = new_writer(keys, repository.repository_id, host, label)
    name = registration_name(registration.writer_id)
    repository.store.put(name, [registration.signed(keys)])
    return registration.writer_id, credential


def paper_key(repository: Repository, kdf: KdfParameters | None = None) -> tuple[str, str]:
    """Add a key file opened by a new random recovery code; return (key id, code). The code is
    printed once, to be kept offline; `drtool key remove` withdraws it."""
    code = base64.b32encode(secrets.token_bytes(20)).decode("ascii")
    text = "-".join(code[index : index + 4] for index in range(0, len(code), 4))
    key_id = add_passphrase_key(repository, text.encode(), "paper", kdf)
    return key_id, text


def _reader_key_file(repository: Repository, key_id: str) -> ReaderKeyFile:
    missing = KeyUnavailable(f"no key {key_id[:40]!r} in this repository (see `drtool key list`)")
    try:
        data = repository.store.get(f"{KEYS}/{check_key_id(key_id)}")
    except (ObjectMissing, KeyFileRefused):
        raise missing from None
    return parse_key_file(key_document(data))
