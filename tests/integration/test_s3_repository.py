"""Repositories on S3, on moto and on the real radosgw: round trips, request counts, Object
Lock, forget and prune, locks, and a fleet of hosts sharing one bucket."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.errors import (
    ConfigError,
    ObjectLocked,
    RepositoryLocked,
    RepositoryNotFound,
    StorageError,
)
from drtool.forget import KeepPolicy, forget
from drtool.host import Host
from drtool.lock import exclusive_lock
from drtool.packs import pack_name
from drtool.prune import prune
from drtool.repository import Repository, init_repository, manifest_name
from drtool.restore import restore_snapshot
from drtool.store.s3 import S3Store
from drtool.timeutil import utc_now
from tests.conftest import FAST_KDF, fixed_passphrase, owned_listing
from tests.support.s3 import TEST_OPTIONS, client_for, new_bucket

SETTINGS = Settings(
    kinds=("wireguard", "nginx", "fail2ban", "files"),
    files=("/etc/postgresql/15/main/pg_hba.conf", "/etc/redis/redis.conf"),
)
KINDS = len(collectors_for(SETTINGS))

StoreFactory = Callable[[], S3Store]


@pytest.fixture(params=["moto", "radosgw"])
def server(request: pytest.FixtureRequest) -> str:
    return request.param


def make_factory(request: pytest.FixtureRequest, server: str, locked: bool) -> StoreFactory:
    client = request.getfixturevalue(f"{server}_client")
    bucket = new_bucket(client, locked=locked)
    return lambda: S3Store(f"s3://{bucket}/fleet/drtool", TEST_OPTIONS, client=client)


@pytest.fixture
def stores(request: pytest.FixtureRequest, server: str) -> StoreFactory:
    """A factory of fresh S3Store objects (fresh request counters) on one bucket."""
    return make_factory(request, server, locked=False)


@pytest.fixture
def locked_stores(request: pytest.FixtureRequest) -> StoreFactory:
    """A bucket with Object Lock on the real server, which enforces it (moto does not fully)."""
    return make_factory(request, "radosgw", locked=True)


def open_repository(store: S3Store) -> Repository:
    return Repository.open(store, fixed_passphrase())


def backup(store: S3Store, root: Path, host: str = "web-1", **kwargs) -> str:
    return run_backup(
        open_repository(store), Host(root, host), collectors_for(SETTINGS), **kwargs
    ).id


def restore(store: S3Store, snapshot_id: str, root: Path, host: str = "web-1") -> None:
    repository = open_repository(store)
    ref = next(ref for ref in repository.snapshot_refs() if ref.id == snapshot_id)
    restore_snapshot(
        repository, repository.read_manifest(ref), Host(root, host), collectors_for(SETTINGS)
    )


def test_round_trip(stores: StoreFactory, sample_root: Path, tmp_path: Path) -> None:
    init_repository(stores(), fixed_passphrase(), FAST_KDF)
    snapshot_id = backup(stores(), sample_root)
    restore(stores(), snapshot_id, tmp_path / "restored")
    assert owned_listing(tmp_path / "restored") == owned_listing(sample_root)


def test_request_counts(stores: StoreFactory, sample_root: Path, tmp_path: Path) -> None:
    init_repository(stores(), fixed_passphrase(), FAST_KDF)
    backup(stores(), sample_root)
    unchanged = stores()
    snapshot_id = backup(unchanged, sample_root)
    # A handful: the config, the previous manifest, the new manifest, the host's status head,
    # and the backup's shared lock (written, the exclusive lock's absence seen, removed with
    # its versions on a versioned bucket), which keeps a prune from deleting what it reuses.
    assert unchanged.requests <= 11, "an unchanged backup costs a handful of requests"
    assert len(list(stores().list("packs"))) == 1, "the unchanged backup stored no pack"
    restoring = stores()
    restore(restoring, snapshot_id, tmp_path / "restored")
    # one listing of keys/ and one of snapshots/, then GETs: key, keyring, manifest, the pack
    assert restoring.requests <= 2 + KINDS + 2


def test_fleet_of_three_hosts_in_one_bucket(
    stores: StoreFactory, sample_root: Path, tmp_path: Path
) -> None:
    init_repository(stores(), fixed_passphrase(), FAST_KDF)
    roots = {}
    for host in ("web-1", "web-2", "db-1"):
        roots[host] = tmp_path / host
        shutil.copytree(sample_root, roots[host], symlinks=True)
        (roots[host] / "etc/nginx/conf.d/host.conf").write_text(f"# {host}\n")
        backup(stores(), roots[host], host)
        backup(stores(), roots[host], host)
    repository = open_repository(stores())
    for host in roots:
        refs = repository.snapshot_refs(host)
        assert len(refs) == 2 and {ref.host for ref in refs} == {host}
        restore(stores(), refs[-1].id, tmp_path / f"restored-{host}", host)
        restored = tmp_path / f"restored-{host}/etc/nginx/conf.d/host.conf"
        assert restored.read_text() == f"# {host}\n"
    report = forget(repository, KeepPolicy(last=1), "web-2")
    assert len(report.removed) == 1 and all("web-2" in label for label in report.removed)
    assert [len(repository.snapshot_refs(host)) for host in roots] == [2, 1, 2]


def test_forget_then_prune_deletes_only_unreferenced_objects(
    stores: StoreFactory, sample_root: Path
) -> None:
    """Three backups, fail2ban changed before the second and the third: three packs. Once
    forget keeps the last snapshot only, the second backup's pack (the second fail2ban, its
    blob list) is used by no snapshot and goes; the first stays whole (its other kinds are in
    use), the third too."""
    init_repository(stores(), fixed_passphrase(), FAST_KDF)
    backup(stores(), sample_root)
    for enabled in ("false", "true"):
        (sample_root / "etc/fail2ban/jail.local").write_text(f"[sshd]\nenabled = {enabled}\n")
        backup(stores(), sample_root)
    repository = open_repository(stores())
    assert len(list(repository.store.list("packs"))) == 3
    assert prune(repository, grace=timedelta(0)).deleted == 0
    forget(repository, KeepPolicy(last=1), None)
    young = prune(repository, grace=timedelta(hours=1))
    assert (young.deleted, young.young) == (0, 1), "a fresh pack may belong to a running backup"
    report = prune(repository, grace=timedelta(0))
    assert (report.deleted, report.referenced) == (1, 2)
    assert len(list(repository.store.list("packs"))) == 2
    assert check_clean(repository)


def check_clean(repository: Repository) -> bool:
    from drtool.check import check_repository

    report = check_repository(repository, read_data=True)
    return report.problems == [] and report.objects_unreferenced == 0


def test_lock_is_exclusive_and_a_stale_one_is_taken_over(stores: StoreFactory) -> None:
    store = stores()
    with exclusive_lock(store, "prune", "web-1"):
        with (
            pytest.raises(RepositoryLocked, match="prune on web-1"),
            exclusive_lock(stores(), "forget", "web-2"),
        ):
            pass
        later = lambda: utc_now() + timedelta(hours=2)  # noqa: E731
        with exclusive_lock(stores(), "forget", "web-2", clock=later):
            pass
    with exclusive_lock(stores(), "prune", "web-3"):
        pass


def test_object_lock_protects_every_snapshot_and_extends_reused_objects(
    locked_stores: StoreFactory, sample_root: Path
) -> None:
    init_repository(locked_stores(), fixed_passphrase(), FAST_KDF, object_lock_days=2)
    first = backup(locked_stores(), sample_root)
    store = locked_stores()
    repository = open_repository(store)
    manifest = repository.read_manifest(repository.snapshot_refs()[0])
    nginx_pack = pack_name(manifest.artifact("nginx").lists[0].pack)
    first_lock = store.stat(nginx_pack).retain_until
    assert first_lock > utc_now() + timedelta(days=2)

    # Nothing can remove a locked object or snapshot: the store refuses, forget says so.
    with pytest.raises(ObjectLocked):
        store.delete(nginx_pack)
    with pytest.raises(ObjectLocked):
        store.delete(manifest_name("web-1", first))

    # A backup three days later reuses the unchanged blobs: their lock is extended to cover
    # the new snapshot (kopia's issue 1067), without uploading them again.
    later = utc_now() + timedelta(days=3)
    second = backup(locked_stores(), sample_root, now=later)
    extended = store.stat(nginx_pack).retain_until
    assert extended >= later + timedelta(days=2)
    new_manifest = repository.read_manifest(
        next(ref for ref in repository.snapshot_refs() if ref.id == second)
    )
    assert pack_name(new_manifest.artifact("nginx").lists[0].pack) == nginx_pack

    report = forget(repository, KeepPolicy(last=1), None, now=later)  # three days later too
    assert report.locked == [f"web-1/{first}"] and report.removed == []
    assert list(store.list("forgotten")) == []  # the snapshot stays: no tombstone says otherwise
    assert prune(repository, grace=timedelta(0)).deleted == 0


def test_object_lock_needs_a_bucket_that_has_it(stores: StoreFactory, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Object Lock"):
        init_repository(stores(), fixed_passphrase(), FAST_KDF, object_lock_days=30)
    from drtool.store.local import LocalStore

    with pytest.raises(ConfigError, match="needs an S3 repository"):
        init_repository(LocalStore(tmp_path / "r"), fixed_passphrase(), FAST_KDF, 30)


def test_storage_class_and_kms_pass_through(moto_client: object) -> None:
    import boto3

    key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    bucket = new_bucket(moto_client)
    options = dataclasses.replace(
        TEST_OPTIONS, storage_class="STANDARD_IA", sse="aws:kms", sse_kms_key_id=key_id
    )
    store = S3Store(f"s3://{bucket}/drtool", options, client=moto_client)
    store.put("objects/aa/x", [b"data"])
    head = moto_client.head_object(Bucket=bucket, Key="drtool/objects/aa/x")
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)


def test_permanent_errors_fail_at_once_and_say_which(
    moto_client: object, radosgw_client: object, radosgw
) -> None:
    missing = S3Store("s3://no-such-bucket-here/drtool", TEST_OPTIONS, client=moto_client)
    with pytest.raises(RepositoryNotFound, match="bucket no-such-bucket-here does not exist"):
        list(missing.list("keys"))
    assert missing.requests == 1

    bucket = new_bucket(radosgw_client)
    wrong = client_for(radosgw.endpoint, secret_key="not-the-secret")
    refused = S3Store(f"s3://{bucket}/drtool", TEST_OPTIONS, client=wrong)
    with pytest.raises(StorageError, match="refused the credentials"):
        list(refused.list("keys"))
    assert refused.requests == 1

    subprocess.run(
        [
            "radosgw-admin",
            "-c",
            str(radosgw.config),
            "user",
            "create",
            "--uid=other",
            "--display-name=other",
            "--access-key=otheraccess",
            "--secret-key=othersecret",
        ],
        check=True,
        capture_output=True,
    )
    stranger = client_for(radosgw.endpoint, access_key="otheraccess", secret_key="othersecret")
    denied = S3Store(f"s3://{bucket}/drtool", TEST_OPTIONS, client=stranger)
    with pytest.raises(StorageError, match="access denied"):
        denied.put("objects/aa/x", [b"x"])
    assert denied.requests == 1


def test_downloads_stream_in_flat_memory(radosgw_client: object) -> None:
    """A 48 MiB object is read back through a bounded buffer, not held in memory."""
    bucket = new_bucket(radosgw_client)
    store = S3Store(f"s3://{bucket}/drtool", TEST_OPTIONS, client=radosgw_client)
    block = os.urandom(1024 * 1024)
    store.put("objects/cc/big", (block for _ in range(48)))
    tracemalloc.start()
    try:
        total = 0
        with store.open("objects/cc/big") as stream:
            while data := stream.read(256 * 1024):
                total += len(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 48 * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while streaming 48 MiB"
