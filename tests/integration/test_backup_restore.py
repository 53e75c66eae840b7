"""Backup and restore through the library, on a real local repository and sandbox roots."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.check import check_repository
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.errors import RepositoryExists, StorageError
from drtool.host import Host
from drtool.inspect import snapshot_contents
from drtool.repository import Repository, init_repository
from drtool.restore import restore_snapshot
from drtool.store.local import LocalStore
from tests.conftest import FAST_KDF, fixed_passphrase, owned_listing, tree_listing

SETTINGS = Settings(files=("/etc/postgresql/15/main/pg_hba.conf", "/etc/redis/redis.conf"))


def backup(repository: Repository, root: Path) -> str:
    return run_backup(repository, Host(root, "web-1"), collectors_for(SETTINGS)).id


def restore(repository: Repository, snapshot_id: str, root: Path, only: set[str] | None = None):
    (ref,) = [ref for ref in repository.snapshot_refs() if ref.id == snapshot_id]
    manifest = repository.read_manifest(ref)
    return restore_snapshot(
        repository, manifest, Host(root, "web-1"), collectors_for(SETTINGS), only
    )


def test_unchanged_host_stores_only_a_new_manifest(
    format1_repository: Repository, sample_root: Path
):
    """Format 1's write path (format 2's: tests/integration/test_packs.py)."""
    repository = format1_repository
    backup(repository, sample_root)
    objects_before = set(repository.store.list("objects"))
    backup(repository, sample_root)
    assert set(repository.store.list("objects")) == objects_before
    assert len(list(repository.store.list("snapshots"))) == 2


def test_a_change_stores_only_the_changed_kind(format1_repository: Repository, sample_root: Path):
    repository = format1_repository
    backup(repository, sample_root)
    objects_before = set(repository.store.list("objects"))
    (sample_root / "etc/fail2ban/jail.local").write_text("[sshd]\nenabled = false\n")
    backup(repository, sample_root)
    assert len(set(repository.store.list("objects")) - objects_before) == 1


def test_restore_returns_a_tree_to_the_snapshot(repository: Repository, sample_root: Path):
    before = owned_listing(sample_root)
    snapshot_id = backup(repository, sample_root)
    (sample_root / "etc/nginx/nginx.conf").write_text("broken {\n")
    (sample_root / "etc/nginx/sites-enabled/rogue").write_text("server {}\n")
    (sample_root / "etc/wireguard/wg0.conf").unlink()
    (sample_root / "etc/redis/redis.conf").chmod(0o666)
    result = restore(repository, snapshot_id, sample_root)
    assert result.restored == ["wireguard", "nginx", "fail2ban", "files"]
    assert owned_listing(sample_root) == before


def test_only_restores_the_named_kinds(repository: Repository, sample_root: Path):
    snapshot_id = backup(repository, sample_root)
    (sample_root / "etc/nginx/nginx.conf").write_text("changed\n")
    (sample_root / "etc/fail2ban/jail.local").write_text("changed\n")
    restore(repository, snapshot_id, sample_root, only={"fail2ban"})
    assert (sample_root / "etc/nginx/nginx.conf").read_text() == "changed\n"
    assert (sample_root / "etc/fail2ban/jail.local").read_text() != "changed\n"


def test_absent_kind_is_recorded_and_left_alone(repository: Repository, tmp_path: Path):
    root = tmp_path / "bare"
    (root / "etc/nginx").mkdir(parents=True)
    (root / "etc/nginx/nginx.conf").write_text("events {}\n")
    snapshot_id = backup(repository, root)
    manifest = repository.read_manifest(repository.snapshot_refs()[-1])
    assert manifest.summary()["absent"] == [
        "docker_networks",
        "wireguard",
        "iptables",
        "nftables",
        "fail2ban",
        "files",
    ]
    # show describes every kind, absent or present, without failing (nginx alone is present)
    contents = snapshot_contents(repository, manifest, collectors_for(SETTINGS))
    details = {kind["kind"]: kind["details"] for kind in contents["artifacts"]}
    assert details.pop("nginx")["sites_enabled"] == []
    assert all(value == {} for value in details.values()), details
    (root / "etc/wireguard").mkdir()
    result = restore(repository, snapshot_id, root)
    assert result.absent == [
        "docker_networks",
        "wireguard",
        "iptables",
        "nftables",
        "fail2ban",
        "files",
    ]
    assert (root / "etc/wireguard").is_dir()


class FailingStore(LocalStore):
    """A real local store whose writes under ``prefix`` start failing after ``allowed`` of them."""

    def __init__(self, path: Path, allowed: int, prefix: str) -> None:
        super().__init__(path)
        self.allowed, self.prefix = allowed, prefix

    def put(self, name: str, chunks: Iterable[bytes], retain_until: datetime | None = None) -> int:
        if name.startswith(self.prefix):
            if self.allowed == 0:
                raise StorageError(f"cannot access {name} in the repository: disk full")
            self.allowed -= 1
        return super().put(name, chunks, retain_until)


@pytest.mark.parametrize("prefix", ["packs/", "snapshots/"], ids=["pack", "manifest"])
def test_a_failed_backup_leaves_no_snapshot_and_no_damage(
    tmp_path: Path, sample_root: Path, prefix: str
):
    """The disk fills when the backup writes its pack, or its manifest: no snapshot, the
    repository checks clean, and only the written pack is left unreferenced (for prune)."""
    path = tmp_path / "repo"
    init_repository(LocalStore(path), fixed_passphrase(), FAST_KDF)
    good = Repository.open(LocalStore(path), fixed_passphrase())
    first = backup(good, sample_root)
    for kind_dir in ("etc/nginx", "etc/wireguard", "etc/fail2ban", "etc/redis"):
        for file in (sample_root / kind_dir).rglob("*"):
            if file.is_file() and not file.is_symlink():
                file.write_text(file.read_text() + "# changed\n")
    failing = Repository.open(FailingStore(path, 0, prefix), fixed_passphrase())
    with pytest.raises(StorageError, match="disk full"):
        backup(failing, sample_root)
    assert [ref.id for ref in good.snapshot_refs()] == [first]
    report = check_repository(good, read_data=True)
    assert report.problems == []
    assert report.packs_unreferenced == (1 if prefix == "snapshots/" else 0)


def test_init_twice_is_refused(repository: Repository):
    with pytest.raises(RepositoryExists):
        init_repository(repository.store, fixed_passphrase(), FAST_KDF)


def test_restore_of_another_hosts_snapshot_onto_a_new_root(
    repository: Repository, sample_root: Path, tmp_path: Path
):
    snapshot_id = backup(repository, sample_root)
    new_host = tmp_path / "new-host"
    new_host.mkdir()
    restore(repository, snapshot_id, new_host)
    assert tree_listing(new_host / "etc/nginx") == tree_listing(sample_root / "etc/nginx")
    assert os.readlink(new_host / "etc/nginx/sites-enabled/toolboxai") == (
        "/etc/nginx/sites-available/toolboxai"
    )
