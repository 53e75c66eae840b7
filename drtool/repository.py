"""Snapshots and objects on top of a Store: init, unlock, content-addressed parts, manifests.

The manifest is written last, so a snapshot is visible only once everything it references is
stored. docs/FORMAT.md describes every name and byte written here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO

from drtool import format as object_format
from drtool import progress, testpoint
from drtool.errors import (
    ConfigError,
    IntegrityError,
    KeyFileRefused,
    KeyUnavailable,
    ObjectExists,
    ObjectMissing,
    RepositoryExists,
    RepositoryNotFound,
    UnsupportedFormat,
)
from drtool.format import Binding, RepositoryKeys
from drtool.host import check_host_name
from drtool.keyring.access import WRITE_ONLY, ReaderKeys
from drtool.keyring.credential import Credential
from drtool.keyring.generation import Generation
from drtool.keyring.kek import passphrase_kek
from drtool.keyring.keyfile import new_key_file
from drtool.keyring.kms import kms_kek
from drtool.keyring.registration import Registration, parse_registration, registration_name
from drtool.keyring.signatures import sign_manifest, verified_manifest
from drtool.keyring.unlock import NEWEST_FORMAT, unlock_with_passphrase
from drtool.keys import KdfParameters, new_key_id
from drtool.passphrase import PassphraseSource
from drtool.snapshot import Manifest, PartRef, SnapshotRef, by_time, is_snapshot_id
from drtool.store import Store
from drtool.timeutil import iso, parse_iso, utc_now_iso

log = logging.getLogger(__name__)

REPOSITORY_FORMAT = NEWEST_FORMAT  # what init makes; format 1 still opens and restores
READABLE_FORMATS = (1, 2)
_HASH_BLOCK = 1024 * 1024


def object_name(object_id: str) -> str:
    return f"objects/{object_id[:2]}/{object_id}"


def manifest_name(host: str, snapshot_id: str) -> str:
    return f"snapshots/{host}/{snapshot_id}"


@dataclass(frozen=True)
class RepositoryConfig:
    """The clear settings of a repository (docs/FORMAT.md, `config`)."""

    repository_id: str
    object_lock_days: int = 0
    format: int = REPOSITORY_FORMAT

    def retention(self, moment: datetime) -> Retention | None:
        if not self.object_lock_days:
            return None
        return Retention.for_days(self.object_lock_days, moment)


@dataclass(frozen=True)
class Retention:
    """How long what a backup writes or reuses must stay immutable.

    Every object a snapshot references must be locked at least as long as the snapshot
    (``required``). New objects, and reused ones whose lock is too short, get ``extended``: a
    quarter more than required, so that a reused object needs one extension request every few
    days rather than at every backup.
    """

    required: datetime
    extended: datetime

    @classmethod
    def for_days(cls, days: int, moment: datetime) -> Retention:
        return cls(
            required=moment + timedelta(days=days),
            extended=moment + timedelta(days=days + max(1, days // 4)),
        )

    def is_met_by(self, retain_until: datetime | None) -> bool:
        return retain_until is not None and retain_until >= self.required


def init_repository(
    store: Store,
    passphrase: PassphraseSource,
    kdf: KdfParameters | None = None,
    object_lock_days: int = 0,
    kms_key_id: str | None = None,
) -> str:
    """Create a format-2 repository: generation 1 of the keyring, opened by the passphrase's
    key file (or KMS key ``kms_key_id``'s); return its id.

    Raise RepositoryExists if the location already holds one, ConfigError if Object Lock is
    asked of a store that cannot lock.
    """
    if store.contains("config"):
        raise RepositoryExists(f"{store.location} already holds a drtool repository")
    if object_lock_days:
        store.check_can_lock()
    repository_id = secrets.token_hex(16)
    config = {
        "format": REPOSITORY_FORMAT,
        "repository_id": repository_id,
        "created": utc_now_iso(),
        "object_lock_days": object_lock_days,
    }
    key_id = new_key_id()
    if kms_key_id:
        kind, (kek, unlock_fields) = "kms", kms_kek(kms_key_id, repository_id, key_id)
    else:
        kind, (kek, unlock_fields) = (
            "passphrase",
            passphrase_kek(passphrase.read(confirm=True), kdf),
        )
    generations = {1: Generation.new(1)}
    key_file = new_key_file(repository_id, key_id, kind, "init", kek, generations, unlock_fields)
    store.put(f"keys/{key_id}", [key_file])
    try:
        # The config is the commit point of init: written last, and only if nobody beat us to it.
        store.put_new("config", json.dumps(config, indent=2).encode() + b"\n")
    except ObjectExists:
        store.delete(f"keys/{key_id}")
        raise RepositoryExists(f"{store.location} already holds a drtool repository") from None
    return repository_id


@dataclass(frozen=True)
class Repository:
    """An unlocked repository."""

    store: Store
    repository_id: str
    key: RepositoryKeys
    format: int = REPOSITORY_FORMAT  # the repository's format version (docs/FORMAT.md)
    _writers: dict[str, Registration] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def open(cls, store: Store, passphrase: PassphraseSource) -> Repository:
        """Unlock the keys with the passphrase (or a KMS key), from the key files alone.

        One listing, then a GET per key file (drtool/keyring/unlock.py); the config is not
        needed, since each key file carries, authenticated, the repository's id and format.
        Raise RepositoryNotFound, UnsupportedFormat or KeyUnavailable.
        """
        key_names = list(store.list("keys"))
        if not key_names:
            read_config(store)  # raises RepositoryNotFound where there is no repository
            raise KeyUnavailable(f"{store.location} holds no key file")
        unlocked = unlock_with_passphrase(store, passphrase, key_names)
        return cls(store, unlocked.repository_id, unlocked.keys, unlocked.format)

    @classmethod
    def open_writer(cls, store: Store, credential: Credential) -> Repository:
        """Open the repository with a write-only credential: no passphrase, no KDF. Refuse a
        credential of another repository, or one an operator revoked (a rotation revokes
        every writer issued before it unless --keep-writers)."""
        config = read_config(store)
        if config.format < 2:
            raise KeyUnavailable("a format-1 repository has no writer credentials")
        if config.repository_id != credential.repository_id:
            raise KeyFileRefused(
                f"the key file is a credential for repository {credential.repository_id[:32]}, "
                f"not {config.repository_id}"
            )
        writer_id = credential.keys.writer_id
        try:
            registration = json.loads(store.get(registration_name(writer_id)))
        except (ObjectMissing, ValueError, RecursionError):
            registration = None
        if not isinstance(registration, dict) or registration.get("revoked") is not None:
            raise KeyUnavailable(
                f"writer {writer_id} of host {credential.keys.host} is revoked or unknown in this "
                "repository: ask an operator for a new credential (drtool key add-writer)"
            )
        return cls(store, config.repository_id, credential.keys, config.format)

    def writer(self, writer_id: str) -> Registration:
        """A writer's registration, verified (once per run); raise KeyFileRefused."""
        if writer_id not in self._writers:
            if not isinstance(self.key, ReaderKeys):
                raise KeyUnavailable("only a reader's key verifies a writer's registration")
            try:
                data = self.store.get(registration_name(writer_id))
            except (ObjectMissing, ConfigError):
                raise KeyFileRefused(f"writer {writer_id[:32]!r} is not registered") from None
            record = parse_registration(data, self.key, writer_id)
            if record.repository_id != self.repository_id:
                raise KeyFileRefused(f"writer {writer_id} belongs to another repository")
            self._writers[writer_id] = record
        return self._writers[writer_id]

    # -- objects ------------------------------------------------------------------------------

    def content_id(self, kind: str, part: BinaryIO, host: str) -> str:
        """Return the keyed hash naming a part of ``kind`` of ``host``; leaves ``part`` rewound."""
        id_key = self.key.content_id_key(host)
        digest = hmac.new(id_key, kind.encode() + b"\x00", hashlib.sha256)
        while block := part.read(_HASH_BLOCK):
            digest.update(block)
        part.seek(0)
        return digest.hexdigest()

    def store_part(
        self,
        kind: str,
        part: BinaryIO,
        known: Mapping[str, PartRef],
        retention: Retention | None = None,
        *,
        host: str,
    ) -> PartRef:
        """Store one tar part unless the repository already has it; return its reference.

        ``known`` holds the parts of the host's previous snapshot: they exist, which spares a
        request each. Under ``retention``, a reused object whose lock ends too early is extended.
        """
        part.seek(0, 2)
        size = part.tell()
        part.seek(0)
        progress.advance(size)
        object_id = self.content_id(kind, part, host)
        name = object_name(object_id)
        if object_id in known:
            reused = known[object_id]
            stored_size, retain_until = reused.stored_size, reused.retention_end()
        else:
            try:
                info = self.store.stat(name)
                stored_size, retain_until = info.size, info.retain_until
            except ObjectMissing:
                until = retention.extended if retention else None
                binding = Binding.artifact_part(object_id, kind)
                stored = self.store.put(
                    name, object_format.encrypt(self.key, binding, part), retain_until=until
                )
                testpoint.reached("backup:object-stored")
                return PartRef(object_id, size, stored, iso(until) if until else None)
        if retention and not retention.is_met_by(retain_until):
            self.store.extend_retention(name, retention.extended)
            retain_until = retention.extended
        return PartRef(object_id, size, stored_size, iso(retain_until) if retain_until else None)

    def read_part(self, kind: str, object_id: str, size: int) -> Iterator[bytes]:
        """Yield the verified plaintext of a part of the declared ``size``, never more: raise
        IntegrityError if it is missing, damaged, or of another size."""
        total = 0
        try:
            with self.store.open(object_name(object_id)) as stream:
                binding = Binding.artifact_part(object_id, kind)
                for block in object_format.decrypt(self.key, binding, stream, size):
                    total += len(block)
                    yield block
                    progress.advance(len(block))
        except ObjectMissing:
            raise IntegrityError(
                f"object {object_id[:16]} ({kind}) is missing from the repository"
            ) from None
        if total != size:
            raise IntegrityError(
                f"object {object_id[:16]} ({kind}) holds {total} bytes, its snapshot says {size}"
            )

    def verify_part(self, kind: str, object_id: str, size: int, host: str) -> None:
        """Decrypt a part of ``host`` and check its content hash under each key that may have
        named it; raise IntegrityError on any mismatch."""
        digests = [
            hmac.new(id_key, kind.encode() + b"\x00", hashlib.sha256)
            for id_key in self.key.content_id_keys(host)
        ]
        for block in self.read_part(kind, object_id, size):
            for digest in digests:
                digest.update(block)
        if not any(hmac.compare_digest(digest.hexdigest(), object_id) for digest in digests):
            raise IntegrityError(f"object {object_id[:16]} ({kind}) does not match its id")

    def object_ids(self) -> Iterable[str]:
        return (name.rsplit("/", 1)[1] for name in self.store.list("objects"))

    # -- snapshots ----------------------------------------------------------------------------

    def write_manifest(self, manifest: Manifest) -> None:
        """Commit a snapshot: the manifest is written after every object it references."""
        document = manifest.to_json()
        if self.format >= 2:
            document = sign_manifest(self.key, manifest.host, document)
        payload = json.dumps(document, sort_keys=True).encode()
        sealed = object_format.seal(self.key, Binding.manifest(manifest.host, manifest.id), payload)
        retain_until = parse_iso(manifest.retain_until) if manifest.retain_until else None
        testpoint.reached("backup:before-manifest")
        self.store.put(manifest_name(manifest.host, manifest.id), [sealed], retain_until)

    def read_manifest(self, ref: SnapshotRef) -> Manifest:
        try:
            with self.store.open(manifest_name(ref.host, ref.id)) as stream:
                payload = object_format.unseal(self.key, Binding.manifest(ref.host, ref.id), stream)
        except ObjectMissing:
            raise IntegrityError(f"snapshot {ref.id} of host {ref.host} vanished") from None
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError):  # nested past Python's limit: as unreadable
            raise IntegrityError(f"snapshot {ref.id} has an unreadable manifest") from None
        if self.format >= 2:
            if not isinstance(self.key, ReaderKeys):
                raise KeyUnavailable(WRITE_ONLY)
            what = f"snapshot {ref.id} of host {ref.host}"
            document = verified_manifest(self.key, ref.host, document, self.writer, what)
        manifest = Manifest.from_json(document)
        if (manifest.host, manifest.id) != (ref.host, ref.id):
            raise IntegrityError(f"snapshot {ref.id} holds the manifest of another snapshot")
        return manifest

    def snapshot_refs(self, host: str | None = None) -> list[SnapshotRef]:
        """Return every snapshot (of ``host`` if given), oldest first by the time its id records,
        from one listing."""
        prefix = f"snapshots/{host}" if host else "snapshots"
        return sorted((_snapshot_ref(name) for name in self.store.list(prefix)), key=by_time)


def _snapshot_ref(name: str) -> SnapshotRef:
    """The snapshot a listed name ``snapshots/<host>/<id>`` stands for; raise IntegrityError for
    any other name (a nested file, a malformed host or id)."""
    segments = name.split("/")
    try:
        if len(segments) != 3 or not is_snapshot_id(segments[2]):
            raise ConfigError(name)
        check_host_name(segments[1])
    except ConfigError:
        raise IntegrityError(
            f"the repository holds {name}, which is not a snapshot's name "
            "(snapshots/<host>/<id>): remove it"
        ) from None
    return SnapshotRef(segments[2], segments[1])


def read_config(store: Store) -> RepositoryConfig:
    """Return the repository's config; raise RepositoryNotFound or UnsupportedFormat."""
    try:
        config = json.loads(store.get("config"))
    except ObjectMissing:
        if not store.exists():
            raise RepositoryNotFound(
                f"repository {store.location} does not exist (run `drtool init`)"
            ) from None
        raise RepositoryNotFound(
            f"{store.location} is not a drtool repository (no config; run `drtool init`)"
        ) from None
    except (ValueError, RecursionError):
        raise RepositoryNotFound(f"{store.location}/config is not readable JSON") from None
    if config.get("format") not in READABLE_FORMATS:
        raise UnsupportedFormat(
            f"repository format {config.get('format')!r} is newer than this drtool "
            f"(reads {REPOSITORY_FORMAT}); upgrade drtool"
        )
    return RepositoryConfig(
        repository_id=str(config["repository_id"]),
        object_lock_days=int(config.get("object_lock_days", 0)),
        format=int(config["format"]),
    )
