"""Snapshots on top of a Store: init, unlock, manifests. What a manifest references is stored
by drtool/parts.py (format 1) and drtool/blob_backup.py (format 2, packs).

The manifest is written last, so a snapshot is visible only once everything it references is
stored. docs/FORMAT.md describes every name and byte written here.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from drtool.format import Binding
from drtool.host import check_host_name
from drtool.keys import (
    KdfParameters,
    KeyFileHeader,
    MasterKey,
    new_key_id,
    new_master_secret,
    read_key_file_header,
    unwrap_master_secret,
    wrap_master_secret,
)
from drtool.passphrase import PassphraseSource
from drtool.snapshot import Manifest, SnapshotRef, by_time, is_snapshot_id
from drtool.store import Store
from drtool.timeutil import parse_iso, utc_now_iso

log = logging.getLogger(__name__)

REPOSITORY_FORMAT = 1


def manifest_name(host: str, snapshot_id: str) -> str:
    return f"snapshots/{host}/{snapshot_id}"


@dataclass(frozen=True)
class RepositoryConfig:
    """The clear settings of a repository (docs/FORMAT.md, `config`)."""

    repository_id: str
    object_lock_days: int = 0

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
) -> str:
    """Create a repository with a new master key; return its id.

    Raise RepositoryExists if the location already holds one, ConfigError if Object Lock is
    asked of a store that cannot lock.
    """
    if store.contains("config"):
        raise RepositoryExists(f"{store.location} already holds a drtool repository")
    if object_lock_days:
        store.check_can_lock()
    secret_passphrase = passphrase.read(confirm=True)
    repository_id = secrets.token_hex(16)
    config = {
        "format": REPOSITORY_FORMAT,
        "repository_id": repository_id,
        "created": utc_now_iso(),
        "object_lock_days": object_lock_days,
    }
    header = KeyFileHeader(repository_id, REPOSITORY_FORMAT, new_key_id())
    key_file = wrap_master_secret(new_master_secret(), secret_passphrase, header, kdf)
    key_id = header.key_id
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
    key: MasterKey
    format: int = REPOSITORY_FORMAT  # the repository's format version (docs/FORMAT.md)
    # Format 2: the packs this command has fetched (drtool/blob_reader.py); a copy made by
    # dataclasses.replace starts with none.
    packs: PackCache = field(default_factory=PackCache, init=False, compare=False, repr=False)

    @classmethod
    def open(cls, store: Store, passphrase: PassphraseSource) -> Repository:
        """Unlock the master key with the passphrase, from the key files alone.

        Two requests on S3 (one listing, one key file); the config is not needed, since each key
        file carries, authenticated, the repository's id and format. Raise RepositoryNotFound,
        UnsupportedFormat or KeyUnavailable.
        """
        key_names = list(store.list("keys"))
        if not key_names:
            read_config(store)  # raises RepositoryNotFound where there is no repository
            raise KeyUnavailable(f"{store.location} holds no key file")
        secret_passphrase = b""
        refused = ""
        for name in key_names:
            key_file = store.get(name)
            # A newer repository is refused before anyone is asked for a passphrase.
            read_key_file_header(key_file, REPOSITORY_FORMAT)
            secret_passphrase = secret_passphrase or passphrase.read()
            try:
                header, secret = unwrap_master_secret(key_file, secret_passphrase)
            except KeyFileRefused as error:
                refused = refused or f"; {name} refused: {error}"
                continue
            except KeyUnavailable:
                continue
            return cls(store, header.repository_id, MasterKey.from_secret(secret))
        raise KeyUnavailable(
            f"wrong passphrase (no key file of the repository accepts it){refused}"
        )

    # -- snapshots ----------------------------------------------------------------------------

    def write_manifest(self, manifest: Manifest) -> None:
        """Commit a snapshot: the manifest is written after every object it references."""
        payload = json.dumps(manifest.to_json(), sort_keys=True).encode()
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
    if config.get("format") != REPOSITORY_FORMAT:
        raise UnsupportedFormat(
            f"repository format {config.get('format')!r} is newer than this drtool "
            f"(reads {REPOSITORY_FORMAT}); upgrade drtool"
        )
    return RepositoryConfig(
        repository_id=str(config["repository_id"]),
        object_lock_days=int(config.get("object_lock_days", 0)),
    )
