"""Format 2's packs on S3 (moto, and the real radosgw): a round trip byte for byte, the requests
a backup and a restore cost, and Object Lock extended on a reused pack."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from drtool import survey
from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.errors import KeyUnavailable, ObjectLocked
from drtool.files_cache import CACHE_DIRECTORY
from drtool.heads import record_backup
from drtool.host import Host
from drtool.keyring.credential import Credential, read_credential, write_credential
from drtool.keyring.manage import add_writer, remove_key
from drtool.packs import host_tag
from drtool.repository import Repository, init_repository
from drtool.restore import restore_snapshot
from drtool.store.s3 import S3Store
from drtool.timeutil import utc_now
from drtool.writer_stamps import open_for_backup
from tests.conftest import FAST_KDF, fixed_passphrase, owned_listing
from tests.integration.test_s3_repository import KINDS, SETTINGS, StoreFactory, make_factory


@pytest.fixture(params=["moto", pytest.param("radosgw", marks=pytest.mark.slow)])
def packed_stores(request: pytest.FixtureRequest) -> StoreFactory:
    return make_factory(request, request.param, locked=False)


def opened(store: S3Store) -> Repository:
    return dataclasses.replace(Repository.open(store, fixed_passphrase()), format=2)


def backup(store: S3Store, root: Path, **kwargs) -> str:
    return run_backup(opened(store), Host(root, "web-1"), collectors_for(SETTINGS), **kwargs).id


def test_round_trip_and_request_counts(
    packed_stores: StoreFactory, sample_root: Path, tmp_path: Path
):
    init_repository(packed_stores(), fixed_passphrase(), FAST_KDF)
    first = packed_stores()
    backup(first, sample_root)
    unchanged = packed_stores()
    snapshot_id = backup(unchanged, sample_root)
    assert len(list(packed_stores().list("packs"))) == 1
    assert not list(packed_stores().list("objects"))
    # Of its own, a packed backup asks for the snapshots listing and writes the manifest, and
    # the first one its pack; an unchanged one writes no pack and reads no previous manifest
    # (the files cache answers). The rest is the keys, the config and the shared lock.
    assert unchanged.requests < first.requests
    restoring = packed_stores()
    repository = opened(restoring)
    ref = next(ref for ref in repository.snapshot_refs() if ref.id == snapshot_id)
    target = tmp_path / "restored"
    restore_snapshot(
        repository, repository.read_manifest(ref), Host(target, "web-1"), collectors_for(SETTINGS)
    )
    assert owned_listing(target) == owned_listing(sample_root)
    # keys listing and key file, snapshots listing, manifest, then one GET per pack (one here)
    assert restoring.requests <= KINDS + 4


@pytest.mark.slow
def test_object_lock_covers_packs_and_extends_a_reused_one(
    request: pytest.FixtureRequest, sample_root: Path
):
    stores = make_factory(request, "radosgw", locked=True)
    init_repository(stores(), fixed_passphrase(), FAST_KDF, object_lock_days=2)
    backup(stores(), sample_root)
    store = stores()
    (name,) = store.list("packs")
    assert store.stat(name).retain_until > utc_now() + timedelta(days=2)
    with pytest.raises(ObjectLocked):
        store.delete(name)
    later = utc_now() + timedelta(days=3)
    backup(stores(), sample_root, now=later)
    assert list(stores().list("packs")) == [name]  # nothing stored again
    assert store.stat(name).retain_until >= later + timedelta(days=2)


def nightly_writer(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[StoreFactory, str, Credential]:
    """A new repository on moto, and web-1's writer credential for it: the store factory, the
    writer's id and the credential read from its file."""
    stores = make_factory(request, "moto", locked=False)
    init_repository(stores(), fixed_passphrase(), FAST_KDF)
    writer_id, credential_bytes = add_writer(opened(stores()), "web-1", "nightly")
    write_credential(tmp_path / "writer.key", credential_bytes)
    return stores, writer_id, read_credential(tmp_path / "writer.key")


def test_a_writers_unchanged_backup_costs_three_requests(
    request: pytest.FixtureRequest, sample_root: Path, tmp_path: Path
):
    """The nightly host (writer credential): one listing of the whole repository, the manifest,
    the head. A forged stamps record is ignored (config and registration read again, two
    requests more); a revocation rewrites the registration, which the next backup reads."""
    stores, writer_id, credential = nightly_writer(request, tmp_path)
    host = Host(sample_root, "web-1")

    def nightly() -> S3Store:
        store = stores()
        repository = open_for_backup(store, credential, host)
        record_backup(repository, run_backup(repository, host, collectors_for(SETTINGS)))
        return store

    nightly()
    assert nightly().requests == 3
    (stamps,) = (sample_root / CACHE_DIRECTORY).glob("*/.writer-web-1")
    stamps.write_bytes(
        stamps.read_bytes().replace(b'"object_lock_days":0', b'"object_lock_days":9')
    )
    assert nightly().requests == 5
    assert nightly().requests == 3
    remove_key(opened(stores()), writer_id)
    with pytest.raises(KeyUnavailable, match="revoked"):
        nightly()


def test_a_large_repository_is_listed_in_part_and_gone_packs_are_still_seen(
    request: pytest.FixtureRequest, sample_root: Path, tmp_path: Path, monkeypatch
):
    """Past WHOLE_LISTING names, a backup lists the first names, its host's snapshots, the
    writers and the one packs/<hh>/ (and relocated/<hh>/) its pack ids name: a constant
    number of requests however large the fleet. A pack of the host deleted there is seen."""
    monkeypatch.setattr(survey, "WHOLE_LISTING", 3)
    stores, _, credential = nightly_writer(request, tmp_path)
    host = Host(sample_root, "web-1")

    def nightly() -> tuple[S3Store, str]:
        store = stores()
        repository = open_for_backup(store, credential, host)
        manifest = run_backup(repository, host, collectors_for(SETTINGS))
        record_backup(repository, manifest)
        return store, manifest.id

    nightly()
    store, _ = nightly()
    assert store.requests == 1 + 4 + 2  # the first names; four listings; manifest and head
    (pack,) = stores().list("packs")
    assert pack.split("/")[2].startswith(host_tag(credential.keys, "web-1"))
    stores().delete(pack)
    store, snapshot_id = nightly()
    assert [name for name in stores().list("packs")] != [pack]  # stored again
    repository = opened(stores())
    ref = next(ref for ref in repository.snapshot_refs() if ref.id == snapshot_id)
    target = tmp_path / "restored"
    restore_snapshot(
        repository, repository.read_manifest(ref), Host(target, "web-1"), collectors_for(SETTINGS)
    )
    assert owned_listing(target) == owned_listing(sample_root)
