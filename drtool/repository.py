"""Snapshots on top of a Store: init, unlock, manifests. What a manifest references is stored
by drtool/parts.py (format 1) and drtool/blob_backup.py (format 2, packs).

The manifest is written last, so a snapshot is visible only once everything it references is
stored. docs/FORMAT.md describes every name and byte written here.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from drtool import format as object_format
from drtool import testpoint
from drtool.blob_reader import PackCache
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
from drtool.hostname import check_host_name
from drtool.keyring.access import WRITE_ONLY, ReaderKeys
from drtool.keyring.generation import Generation
from drtool.keyring.kek import passphrase_kek
from drtool.keyring.keyfile import new_key_file
from drtool.keyring.kms import kms_kek
from drtool.keyring.registration import Registration, parse_registration, registration_name
from drtool.keyring.revocations import KnownRevocations
from drtool.keyring.signatures import sign_manifest, verified_manifest
from drtool.keyring.unlock import NEWEST_FORMAT
from drtool.keys import KdfParameters, new_key_id
from drtool.passphrase import PassphraseSource
from drtool.seen import SeenRevocations
from drtool.snapshot import Manifest, SnapshotRef, by_time, is_snapshot_id
from drtool.store import Store
from drtool.timeutil import parse_iso, utc_now_iso

if TYPE_CHECKING:
    from drtool.keyring.credential import Credential  # a writer's only: not imported to read
    from drtool.survey import Survey

log = logging.getLogger(__name__)

REPOSITORY_FORMAT = NEWEST_FORMAT  # what init makes; format 1 still opens and restores
READABLE_FORMATS = (1, 2)


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
    # The host root whose state directory remembers the revocations this reader saw
    # (drtool/seen.py); None: no memory (the library used on its own).
    seen_on: Path | None = field(default=None, compare=False, repr=False)
    _writers: dict[str, Registration] = field(default_factory=dict, compare=False, repr=False)
    _revocations: list[KnownRevocations] = field(default_factory=list, compare=False, repr=False)
    # Format 2: the packs this command has fetched (drtool/blob_reader.py); a copy made by
    # dataclasses.replace starts with none.
    packs: PackCache = field(default_factory=PackCache, init=False, compare=False, repr=False)
    # The config as read (or as a writer last verified it, drtool/writer_stamps.py); None: not
    # read yet. What the listings told a format-2 backup before it started (drtool/survey.py).
    config: RepositoryConfig | None = field(default=None, compare=False, repr=False)
    survey: Survey | None = field(default=None, compare=False, repr=False)

    @classmethod
    def open(
        cls,
        store: Store,
        passphrase: PassphraseSource,
        kms_key: str | None = None,
        seen_on: Path | None = None,
    ) -> Repository:
        """Unlock the keys with the passphrase (or KMS key ``kms_key``, the one this host is
        configured with), from the key files alone.

        One listing, then a GET per key file (drtool/keyring/unlock.py); the config is not
        needed, since each key file carries, authenticated, the repository's id and format.
        Raise RepositoryNotFound, UnsupportedFormat or KeyUnavailable. drtool/opening.py
        derives the key beside the command's other work.
        """
        from drtool.opening import start_opening

        return start_opening(store, passphrase, kms_key, seen_on).unlocked()

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
        return cls(store, config.repository_id, credential.keys, config.format, config=config)

    def settings(self) -> RepositoryConfig:
        """The config: as this command read it, else read now."""
        return self.config or read_config(self.store)

    def writer(self, writer_id: str) -> Registration:
        """A writer's registration, verified, revoked as the record of revoked writers says
        (never older than this machine saw it); raise KeyFileRefused or IntegrityError."""
        return self.revocations.applied(self.registration(writer_id))

    @property
    def revocations(self) -> KnownRevocations:
        """What this reader knows of revoked writers (read once per run)."""
        if not isinstance(self.key, ReaderKeys):
            raise KeyUnavailable("only a reader's key verifies a writer's registration")
        if not self._revocations:
            memory = None
            if self.seen_on is not None:
                memory = functools.partial(SeenRevocations.load, self.seen_on, self.repository_id)
            known = KnownRevocations(self.store, self.key, self.repository_id, memory)
            self._revocations.append(known)
        return self._revocations[0]

    def registration(self, writer_id: str) -> Registration:
        """A writer's registration, verified (once per run), as the repository holds it (a
        stolen host may have put an older one back: ``writer`` applies the revocations);
        raise KeyFileRefused."""
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
        return listed_snapshot_refs(self.store, host)

    def snapshot_hosts(self) -> list[str]:
        """The hosts with snapshots, sorted (one request per 1,000 hosts)."""
        return listed_snapshot_hosts(self.store)

    def snapshot_refs_by_host(self) -> Iterator[list[SnapshotRef]]:
        """Every host's snapshots, one host at a time (oldest first), from one streamed listing:
        the store lists in name order, so a host's names come together and memory holds one
        host's, never the fleet's."""
        refs = (snapshot_ref(name) for name in self.store.list("snapshots"))
        for _, host_refs in itertools.groupby(refs, key=lambda ref: ref.host):
            yield sorted(host_refs, key=by_time)


def listed_snapshot_refs(store: Store, host: str | None = None) -> list[SnapshotRef]:
    """Repository.snapshot_refs, from the store alone (no key needed)."""
    prefix = f"snapshots/{host}" if host else "snapshots"
    return sorted((snapshot_ref(name) for name in store.list(prefix)), key=by_time)


def listed_snapshot_hosts(store: Store) -> list[str]:
    """Repository.snapshot_hosts, from the store alone (no key needed): the listing of the host
    folders; raise IntegrityError for a folder that is not a host's name."""
    hosts = list(store.list_folders("snapshots"))
    for host in hosts:
        try:
            check_host_name(host)
        except ConfigError:
            raise IntegrityError(
                f"the repository holds {f'snapshots/{host}/'!r}, which is not a host's folder: "
                "remove it"
            ) from None
    return hosts


def named_snapshot(name: str) -> SnapshotRef | None:
    """The snapshot a listed name ``<prefix>/<host>/<id>`` stands for (``snapshots/``,
    ``forgotten/``); None for any other name (a nested file, a malformed host or id)."""
    segments = name.split("/")
    try:
        if len(segments) != 3 or not is_snapshot_id(segments[2]):
            raise ConfigError(name)
        check_host_name(segments[1])
    except ConfigError:
        return None
    return SnapshotRef(segments[2], segments[1])


def snapshot_ref(name: str) -> SnapshotRef:
    """The snapshot a listed name ``snapshots/<host>/<id>`` stands for; raise IntegrityError for
    any other name."""
    ref = named_snapshot(name)
    if ref is None:
        raise IntegrityError(
            f"the repository holds {name!r}, which is not a snapshot's name "
            "(snapshots/<host>/<id>): remove it"
        )
    return ref


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
