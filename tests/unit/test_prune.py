"""prune on a local repository of format 1 (its objects): exactly the unreferenced objects older
than the grace period go; what a snapshot references, what is young, stays; an unreadable
snapshot stops it before it deletes anything."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drtool import testpoint
from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.errors import IntegrityError, ObjectLocked
from drtool.host import Host
from drtool.parts import object_ids, object_name
from drtool.prune import DEFAULT_GRACE, prune
from drtool.repository import Repository, manifest_name
from drtool.runner import Runner
from drtool.snapshot import Manifest
from drtool.store.base import ObjectInfo
from drtool.store.local import LocalStore
from drtool.timeutil import utc_now

SETTINGS = Settings(kinds=("files",), files=("/etc/redis/redis.conf", "/etc/app.conf"))
STRAY = ["ee" * 32, "ff" * 32]


def backup(repository: Repository, root: Path) -> Manifest:
    return run_backup(repository, Host(root, "web-1", Runner()), collectors_for(SETTINGS))


@pytest.fixture
def repository(format1_repository: Repository) -> Repository:
    return format1_repository


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root/etc/redis").mkdir(parents=True)
    (tmp_path / "root/etc/redis/redis.conf").write_text("bind 127.0.0.1\n")
    (tmp_path / "root/etc/app.conf").write_text("debug = false\n")
    return tmp_path / "root"


def objects(repository: Repository) -> set[str]:
    return set(object_ids(repository))


def referenced(manifest: Manifest) -> set[str]:
    return {part.id for record in manifest.artifacts for part in record.parts}


def test_only_old_unreferenced_objects_go(repository: Repository, root: Path) -> None:
    kept = referenced(backup(repository, root))
    assert kept and kept <= objects(repository)
    for stray in STRAY:
        repository.store.put(object_name(stray), [b"left by an interrupted backup"])
    assert timedelta(hours=1) == DEFAULT_GRACE

    young = prune(repository)
    assert (young.deleted, young.young, young.referenced) == (0, 2, len(kept))
    assert objects(repository) == kept | set(STRAY)

    later = utc_now() + DEFAULT_GRACE + timedelta(minutes=1)
    report = prune(repository, now=later)
    assert (report.deleted, report.young, report.locked) == (2, 0, 0)
    assert report.referenced == len(kept)
    assert objects(repository) == kept
    assert report.describe().startswith(f"{len(kept)} object(s) in use; deleted 2 unreferenced")


def test_a_grace_of_zero_keeps_every_snapshots_objects(repository: Repository, root: Path) -> None:
    first = referenced(backup(repository, root))
    (root / "etc/app.conf").write_text("debug = true\n")
    second = referenced(backup(repository, root))
    assert first != second
    report = prune(repository, grace=timedelta(0), now=utc_now() + timedelta(seconds=1))
    assert report.deleted == 0 and report.referenced == len(first | second)
    assert objects(repository) == first | second


def test_an_unreadable_snapshot_stops_prune_before_any_deletion(
    repository: Repository, root: Path
) -> None:
    manifest = backup(repository, root)
    repository.store.put(object_name(STRAY[0]), [b"stray"])
    path = repository.store.path / manifest_name("web-1", manifest.id)  # type: ignore[attr-defined]
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(IntegrityError, match=f"prune refused: snapshot web-1/{manifest.id}"):
        prune(repository, grace=timedelta(0), now=utc_now() + timedelta(hours=2))
    assert STRAY[0] in objects(repository)


class Retaining(LocalStore):
    """A local store whose objects named in ``retained`` carry Object Lock retention until
    ``until``, which it enforces as S3 does (refusing their deletion before then, ``now`` being
    the server's clock), and whose objects in ``refusing`` it refuses to delete whatever."""

    def __init__(
        self, path: Path, retained: set[str], refusing: set[str], until: datetime, now: datetime
    ) -> None:
        super().__init__(path)
        self.retained, self.refusing, self.until, self.now = retained, refusing, until, now

    def stat(self, name: str) -> ObjectInfo:
        info = super().stat(name)
        if name in self.retained:
            return ObjectInfo(info.size, info.modified, self.until)
        return info

    def delete(self, name: str) -> None:
        retained = name in self.retained and self.until > self.now
        if retained or name in self.refusing:
            raise ObjectLocked(f"{name} is under retention (Object Lock)")
        super().delete(name)


def test_objects_under_retention_are_counted_and_kept(repository: Repository) -> None:
    names = [object_name(f"{digit}" * 64) for digit in "1234"]
    for name in names:
        repository.store.put(name, [b"x"])
    moment = repository.store.stat(names[0]).modified + DEFAULT_GRACE
    path = repository.store.path  # type: ignore[attr-defined]
    until = moment + timedelta(seconds=2)
    now = moment + timedelta(seconds=1)
    store = Retaining(path, {names[0], names[1]}, {names[2]}, until=until, now=now)
    report = prune(dataclasses.replace(repository, store=store), now=now)
    assert (report.locked, report.deleted) == (3, 1), "two retained, one refused, one deleted"
    assert {object_name(i) for i in object_ids(repository)} == set(names[:3])


def test_an_object_exactly_as_old_as_the_grace_goes(repository: Repository) -> None:
    name = object_name("9" * 64)
    repository.store.put(name, [b"x"])
    moment = repository.store.stat(name).modified + DEFAULT_GRACE
    assert prune(repository, now=moment).deleted == 1


def test_a_retention_ending_now_no_longer_protects(repository: Repository) -> None:
    name = object_name("8" * 64)
    repository.store.put(name, [b"x"])
    moment = repository.store.stat(name).modified + DEFAULT_GRACE
    path = repository.store.path  # type: ignore[attr-defined]
    store = Retaining(path, {name}, set(), until=moment, now=moment)
    assert prune(dataclasses.replace(repository, store=store), now=moment).deleted == 1


def test_leftovers_of_interrupted_writes_older_than_the_grace_are_cleaned(
    repository: Repository,
) -> None:
    directory = repository.store.path / "objects/ab"  # type: ignore[attr-defined]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".tmp-interrupted").write_bytes(b"half an object")
    written = datetime.fromtimestamp((directory / ".tmp-interrupted").stat().st_mtime, UTC)
    assert prune(repository, now=written + DEFAULT_GRACE).leftovers == 0
    later = written + DEFAULT_GRACE + timedelta(seconds=1)
    report = prune(repository, now=later)
    assert report.leftovers == 1 and not (directory / ".tmp-interrupted").exists()
    assert report.describe().endswith("cleaned 1 leftover(s) of interrupted writes")


def test_prune_stops_at_its_listed_point_before_any_deletion(
    repository: Repository, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/e2e/test_backup_prune_race.py pauses prune at "prune:listed" (every snapshot read,
    nothing deleted yet) to start a backup there: the point must be reached, and first."""
    backup(repository, root)
    repository.store.put(object_name(STRAY[0]), [b"stray"])
    monkeypatch.setattr(testpoint, "_TARGET", "prune:listed:raise")
    monkeypatch.setattr(testpoint, "_seen", {})
    with pytest.raises(testpoint.InjectedBug, match=r"at the test point prune:listed$"):
        prune(repository, now=utc_now() + timedelta(hours=2))
    assert STRAY[0] in objects(repository)
