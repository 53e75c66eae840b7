"""A write-only host's memory of what it verified when it last opened the repository: the
config it read and that its registration was not revoked, with the size and time the listing
gave each (docs/FORMAT.md, "The files cache"). While one listing shows both unchanged and the
host's own last snapshot still the newest, the backup reads neither again.

A revocation (`key remove`, `key rotate`) rewrites the registration: its size and time change,
so the next backup reads it and stops. The record is authenticated as the files cache is; a
damaged, forged or out-of-date one is ignored (the config and registration are read again).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from drtool.files_cache import CACHE_DIRECTORY, cache_mac
from drtool.fsutil import make_directory, write_atomically
from drtool.host import Host
from drtool.keyring.access import WriterKeys
from drtool.keyring.credential import Credential
from drtool.keyring.registration import registration_name
from drtool.packs import host_tag
from drtool.repository import Repository, RepositoryConfig
from drtool.store import Store
from drtool.survey import Stamp, survey

log = logging.getLogger(__name__)

_MAGIC = b"drtool writer stamps 1\n"
_WHAT = "writer stamps"


@dataclass(frozen=True)
class WriterStamps:
    snapshot_id: str  # the host's newest snapshot when the record was written (its own)
    config: RepositoryConfig
    stamps: dict[str, Stamp]  # "config" and "writers/<id>": (size, time) as listed


def stamped_names(keys: WriterKeys) -> tuple[str, str]:
    return ("config", registration_name(keys.writer_id))


def open_for_backup(store: Store, credential: Credential, host: Host) -> Repository:
    """Open the repository with a writer credential for a format-2 backup: one listing of the
    whole repository, and the config and registration read only if they changed since this
    host verified them (Repository.open_writer's checks, then)."""
    keys = credential.keys
    names = stamped_names(keys)
    found = survey(store, host.name, host_tag(keys, host.name), names)
    known = _load(host, credential.repository_id, keys.id_key)
    newest = found.snapshot_refs[-1].id if found.snapshot_refs else None
    if (
        known is not None
        and known.snapshot_id == newest
        and known.config.repository_id == credential.repository_id
        and found.stamps_of(names) == known.stamps
    ):
        config = known.config
        return Repository(
            store, config.repository_id, keys, config.format, config=config, survey=found
        )
    return dataclasses.replace(Repository.open_writer(store, credential), survey=found)


def save_stamps(repository: Repository, host: Host, snapshot_id: str) -> None:
    """Remember, once ``snapshot_id`` is written, what this backup's listing and reads showed."""
    keys, found, config = repository.key, repository.survey, repository.config
    if not isinstance(keys, WriterKeys) or found is None or config is None:
        return
    stamps = found.stamps_of(stamped_names(keys))
    if stamps is None:
        return
    document = {
        "snapshot": snapshot_id,
        "config": {
            "repository_id": config.repository_id,
            "format": config.format,
            "object_lock_days": config.object_lock_days,
        },
        "stamps": {name: list(stamp) for name, stamp in stamps.items()},
    }
    payload = json.dumps(document, separators=(",", ":")).encode()
    mac = cache_mac(keys.id_key, repository.repository_id, host.name, payload, _WHAT).encode()
    directory = host.path(CACHE_DIRECTORY)
    try:
        make_directory(directory, 0o700)
        make_directory(directory / repository.repository_id, 0o700)
        write_atomically(_path(host, repository.repository_id), _MAGIC + mac + b"\n" + payload)
    except OSError as error:
        log.warning("writer stamps not saved (%s): the next backup reads the config again", error)


def _path(host: Host, repository_id: str) -> Path:
    # Beside the files cache; a host name never starts with a dot, so no host's cache is named so.
    return host.path(CACHE_DIRECTORY) / repository_id / f".writer-{host.name}"


def _load(host: Host, repository_id: str, id_key: bytes) -> WriterStamps | None:
    try:
        data = _path(host, repository_id).read_bytes()
    except OSError:
        return None
    if not data.startswith(_MAGIC):
        return None
    mac, _, payload = data[len(_MAGIC) :].partition(b"\n")
    expected = cache_mac(id_key, repository_id, host.name, payload, _WHAT).encode()
    if not hmac.compare_digest(mac, expected):
        log.warning("writer stamps of %s fail authentication: the config is read again", host.name)
        return None
    try:
        document = json.loads(payload)
        config = document["config"]
        return WriterStamps(
            snapshot_id=str(document["snapshot"]),
            config=RepositoryConfig(
                repository_id=str(config["repository_id"]),
                format=int(config["format"]),
                object_lock_days=int(config["object_lock_days"]),
            ),
            stamps={
                str(name): (int(size), str(moment))
                for name, (size, moment) in document["stamps"].items()
            },
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
