"""prune on a local repository: exactly the unreferenced objects older than the grace period
go; what a snapshot references, what is young, stays; an unreadable snapshot stops it before it
deletes anything."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.errors import IntegrityError
from drtool.host import Host
from drtool.prune import DEFAULT_GRACE, prune
from drtool.repository import Repository, manifest_name, object_name
from drtool.runner import Runner
from drtool.snapshot import Manifest
from drtool.timeutil import utc_now

SETTINGS = Settings(kinds=("files",), files=("/etc/redis/redis.conf", "/etc/app.conf"))
STRAY = ["ee" * 32, "ff" * 32]


def backup(repository: Repository, root: Path) -> Manifest:
    return run_backup(repository, Host(root, "web-1", Runner()), collectors_for(SETTINGS))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root/etc/redis").mkdir(parents=True)
    (tmp_path / "root/etc/redis/redis.conf").write_text("bind 127.0.0.1\n")
    (tmp_path / "root/etc/app.conf").write_text("debug = false\n")
    return tmp_path / "root"


def objects(repository: Repository) -> set[str]:
    return set(repository.object_ids())


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
