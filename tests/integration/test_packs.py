"""Format 2's storage through the library: blobs in packs on a real local repository, restored
byte for byte (the oracle: the files themselves and sha256), deduplicated per file, and read
back without the files cache."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.check import check_repository
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.errors import KeyUnavailable
from drtool.files_cache import CACHE_DIRECTORY
from drtool.host import Host
from drtool.keyring.credential import read_credential, write_credential
from drtool.keyring.manage import add_writer
from drtool.prune import prune
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.snapshot import Manifest
from drtool.timeutil import utc_now
from tests.conftest import owned_listing
from tests.support.artifacts import forget_one

SETTINGS = Settings(files=("/etc/postgresql/15/main/pg_hba.conf", "/etc/redis/redis.conf"))


def backup(repository: Repository, root: Path) -> Manifest:
    return run_backup(repository, Host(root, "web-1"), collectors_for(SETTINGS))


def restore(repository: Repository, manifest: Manifest, root: Path) -> None:
    fresh = dataclasses.replace(repository)  # a new command: no pack fetched yet
    restore_snapshot(fresh, manifest, Host(root, "web-1"), collectors_for(SETTINGS))


def digests(root: Path, below: str = "etc") -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (root / below).rglob("*")
        if path.is_file() and not path.is_symlink()
    }


def packs(repository: Repository) -> set[str]:
    return set(repository.store.list("packs"))


def test_a_packed_snapshot_restores_byte_for_byte(packed: Repository, sample_root: Path):
    before, files = owned_listing(sample_root), digests(sample_root)
    manifest = backup(packed, sample_root)
    assert not list(packed.store.list("objects")) and len(packs(packed)) == 1
    assert all(record.lists and not record.parts for record in manifest.artifacts if record.present)
    (sample_root / "etc/nginx/nginx.conf").write_text("broken {\n")
    (sample_root / "etc/wireguard/wg0.conf").unlink()
    (sample_root / "etc/redis/redis.conf").chmod(0o666)
    restore(packed, manifest, sample_root)
    assert owned_listing(sample_root) == before
    assert digests(sample_root) == files


def test_an_unchanged_host_stores_only_a_manifest(packed: Repository, sample_root: Path):
    backup(packed, sample_root)
    stored = packs(packed)
    second = backup(packed, sample_root)
    assert packs(packed) == stored
    assert sum(record.stored for record in second.artifacts) == 0


def test_one_changed_file_stores_one_small_pack(packed: Repository, sample_root: Path):
    first = backup(packed, sample_root)
    (sample_root / "etc/fail2ban/jail.local").write_text("[sshd]\nenabled = false\n")
    second = backup(packed, sample_root)
    stored = {record.kind: record.stored for record in second.artifacts if record.stored}
    assert set(stored) == {"fail2ban"}
    assert stored["fail2ban"] < sum(record.stored for record in first.artifacts) / 4
    assert len(packs(packed)) == 2


def test_without_the_files_cache_blobs_are_reused_from_the_previous_snapshot(
    packed: Repository, sample_root: Path
):
    backup(packed, sample_root)
    cache = sample_root / CACHE_DIRECTORY
    (written,) = [path for path in cache.rglob("*") if path.is_file()]
    assert written.relative_to(cache).parts == (packed.repository_id, "web-1")
    assert [(path.stat().st_mode & 0o777) for path in (cache, written.parent, written)] == [
        0o700,
        0o700,
        0o600,
    ]
    for path in cache.rglob("*"):
        path.unlink() if path.is_file() else None
    stored = packs(packed)
    backup(packed, sample_root)
    assert packs(packed) == stored


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-10],
        lambda data: data.replace(b'"blobs":{"', b'"blobs":{"0'),
        lambda data: b"rubbish",
    ],
)
def test_a_damaged_files_cache_costs_reading_never_a_wrong_snapshot(
    packed: Repository, sample_root: Path, tmp_path: Path, damage
):
    backup(packed, sample_root)
    (cache,) = [path for path in (sample_root / CACHE_DIRECTORY).rglob("*") if path.is_file()]
    cache.write_bytes(damage(cache.read_bytes()))
    conf = sample_root / "etc/nginx/nginx.conf"
    status = conf.stat()
    conf.write_text(conf.read_text().upper())
    manifest = backup(packed, sample_root)
    target = tmp_path / "restored"
    target.mkdir()
    restore(packed, manifest, target)
    assert (target / "etc/nginx/nginx.conf").read_text() == conf.read_text()
    assert status.st_size == conf.stat().st_size


def test_check_reads_every_packed_blob(packed: Repository, sample_root: Path):
    backup(packed, sample_root)
    report = check_repository(packed, read_data=True)
    assert not report.problems


def test_a_cache_of_a_forgotten_snapshot_never_names_a_pruned_pack(
    packed: Repository, sample_root: Path, tmp_path: Path
):
    first = backup(packed, sample_root)
    forget_one(packed, first)
    assert prune(packed, now=utc_now() + timedelta(hours=2)).deleted == 1
    second = backup(packed, sample_root)
    assert len(packs(packed)) == 1
    # The only problem: this machine names the forgotten snapshot, whose tombstone prune took
    # (forget itself never takes a host's newest snapshot, as this test does).
    (problem,) = check_repository(packed, read_data=True).problems
    assert problem.startswith(f"snapshot {first.id} of host web-1 is missing")
    restore(packed, second, tmp_path / "restored")
    assert digests(tmp_path / "restored") == digests(sample_root)


def writer_of(repository: Repository, host: str, tmp_path: Path) -> Repository:
    """The repository as ``host``'s write-only credential opens it (drtool key add-writer)."""
    _, credential = add_writer(repository, host, "test")
    path = tmp_path / f"{host}.key"
    write_credential(path, credential)
    return Repository.open_writer(repository.store, read_credential(path))


def test_a_write_only_host_deduplicates_against_its_files_cache(
    packed: Repository, sample_root: Path, tmp_path: Path
):
    backup(packed, sample_root)
    writer = writer_of(packed, "web-1", tmp_path)
    stored = packs(packed)
    unchanged = backup(writer, sample_root)
    assert packs(packed) == stored and sum(item.stored for item in unchanged.artifacts) == 0
    (sample_root / "etc/fail2ban/jail.local").write_text("[sshd]\nenabled = false\n")
    changed = backup(writer, sample_root)
    assert {item.kind for item in changed.artifacts if item.stored} == {"fail2ban"}
    with pytest.raises(KeyUnavailable):
        restore(writer, changed, sample_root)


def test_a_file_two_kinds_hold_is_cached_for_each(packed: Repository, sample_root: Path):
    """(A restore refuses such overlapping roots; check reads every blob as its kind's.)"""
    both = Settings(files=("/etc/nginx/nginx.conf",))
    host = Host(sample_root, "web-1")
    run_backup(packed, host, collectors_for(both))
    run_backup(packed, host, collectors_for(both))
    assert check_repository(dataclasses.replace(packed), read_data=True).problems == []
