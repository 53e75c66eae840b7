"""forget() on a local repository: what the policy drops goes, each after its verified tombstone,
oldest first; the host named only; a dry run changes nothing; a manifest the store keeps
(Object Lock) is reported locked and keeps no tombstone. The store's own listing is the oracle.
Object Lock itself is real in tests/integration/test_s3_repository.py (radosgw); here the store
refuses one deletion as a locked bucket does."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from drtool.errors import StorageError
from drtool.forget import ForgetReport, forget
from drtool.repository import Repository, manifest_name
from drtool.retention import KeepPolicy
from drtool.store.local import LocalStore
from drtool.tombstones import read_tombstone
from tests.support.fleet import NOW, add_host


def listed(repository: Repository, prefix: str) -> list[str]:
    return sorted(name.rsplit("/", 1)[1] for name in repository.store.list(prefix))


def two_hosts(repository: Repository, tmp_path: Path) -> list[str]:
    """web-1 with four snapshots a day apart, db-1 with two; return web-1's ids, oldest first."""
    add_host(repository, tmp_path, "web-1", 4)
    add_host(repository, tmp_path, "db-1", 2)
    return listed(repository, "snapshots/web-1/")


def test_forget_removes_the_oldest_after_their_tombstones(
    repository: Repository, tmp_path: Path
) -> None:
    web = two_hosts(repository, tmp_path)
    db = listed(repository, "snapshots/db-1/")

    report = forget(repository, KeepPolicy(last=2), "web-1", now=NOW + timedelta(hours=1))

    assert report.removed == [f"web-1/{snapshot}" for snapshot in web[:2]]
    assert report.kept == [f"web-1/{snapshot}" for snapshot in web[2:]]
    assert report.locked == []
    assert listed(repository, "snapshots/web-1/") == web[2:]
    assert listed(repository, "forgotten/web-1/") == web[:2]
    for snapshot in web[:2]:
        tombstone = read_tombstone(repository, "web-1", snapshot)
        assert tombstone is not None and (tombstone.host, tombstone.snapshot) == ("web-1", snapshot)
    assert listed(repository, "snapshots/db-1/") == db
    assert listed(repository, "forgotten/db-1/") == []
    assert report.describe().splitlines()[-1] == "kept 2, removed 2, locked 0 snapshot(s)"
    assert report.reasons[f"web-1/{web[0]}"] == ["last: 2 newer kept"]


def test_every_host_when_none_is_named(repository: Repository, tmp_path: Path) -> None:
    web = two_hosts(repository, tmp_path)
    db = listed(repository, "snapshots/db-1/")

    report = forget(repository, KeepPolicy(last=1), None)

    assert sorted(report.removed) == sorted(
        [f"web-1/{snapshot}" for snapshot in web[:3]] + [f"db-1/{db[0]}"]
    )
    assert listed(repository, "snapshots/web-1/") == web[3:]
    assert listed(repository, "snapshots/db-1/") == db[1:]


def test_a_dry_run_changes_nothing(repository: Repository, tmp_path: Path) -> None:
    web = two_hosts(repository, tmp_path)

    report = forget(repository, KeepPolicy(last=1), "web-1", dry_run=True)

    assert report.removed == [f"web-1/{snapshot}" for snapshot in web[:3]]
    assert listed(repository, "snapshots/web-1/") == web
    assert listed(repository, "forgotten/web-1/") == []


class OneLocked(LocalStore):
    """A store that keeps one manifest as a bucket's Object Lock retention does."""

    locked: str = ""

    def delete_many(self, names):  # type: ignore[no-untyped-def]
        names = list(names)
        kept = [name for name in names if name == self.locked]
        super().delete_many(name for name in names if name not in kept)
        return kept


def test_a_locked_manifest_stays_without_its_tombstone(
    repository: Repository, tmp_path: Path
) -> None:
    web = two_hosts(repository, tmp_path)
    store = OneLocked(repository.store.path)  # type: ignore[attr-defined]
    store.locked = manifest_name("web-1", web[1])
    repository = dataclasses.replace(repository, store=store)

    report = forget(repository, KeepPolicy(last=1), "web-1")

    assert report.locked == [f"web-1/{web[1]}"]
    assert report.removed == [f"web-1/{web[0]}", f"web-1/{web[2]}"]
    assert listed(repository, "snapshots/web-1/") == [web[1], web[3]]
    assert listed(repository, "forgotten/web-1/") == [web[0], web[2]]
    assert f"locked web-1/{web[1]} (Object Lock retention; kept)" in report.describe()


class DeletesFail(LocalStore):
    """A store that dies at the first deletion (a crash, a lost connection)."""

    def delete_many(self, names):  # type: ignore[no-untyped-def]
        raise StorageError("connection lost")


def test_every_tombstone_is_written_before_any_manifest_goes(
    repository: Repository, tmp_path: Path
) -> None:
    web = two_hosts(repository, tmp_path)
    broken = dataclasses.replace(repository, store=DeletesFail(repository.store.path))  # type: ignore[attr-defined]

    with pytest.raises(StorageError):
        forget(broken, KeepPolicy(last=1), "web-1")

    assert listed(repository, "snapshots/web-1/") == web
    assert listed(repository, "forgotten/web-1/") == web[:3]


def test_the_report_names_each_snapshot_and_its_reasons() -> None:
    report = ForgetReport(
        kept=["web-1/b"],
        removed=["web-1/a"],
        locked=["web-1/c"],
        reasons={"web-1/b": ["last", "daily"], "web-1/a": ["too old", "not tagged"]},
    )
    assert report.describe().splitlines() == [
        "keep   web-1/b  (last, daily)",
        "remove web-1/a  (too old; not tagged)",
        "locked web-1/c (Object Lock retention; kept)",
        "kept 1, removed 1, locked 1 snapshot(s)",
    ]
