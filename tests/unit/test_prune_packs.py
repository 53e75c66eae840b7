"""prune on a local repository of format 2 (its packs), fast: a pack no snapshot uses goes, one
used in part is repacked (its relocation record left behind, deleted once no snapshot names
the old pack), a tombstone goes once no manifest names its snapshot as previous, one a
retention keeps is skipped and the next still goes; an unreadable blob list stops it before it
deletes anything. The oracle is the store's own listing and a restore of the kept snapshot."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.errors import IntegrityError, ObjectLocked
from drtool.host import Host
from drtool.packs import PackWriter, pack_name
from drtool.prune import prune
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.snapshot import Manifest, SnapshotRef, new_snapshot_id
from drtool.store.local import LocalStore
from drtool.timeutil import utc_now
from drtool.tombstones import write_tombstone
from tests.support.artifacts import forget_one

FILES = {"etc/redis/redis.conf": "bind 127.0.0.1\n", "etc/app.conf": "debug = false\n"}
SETTINGS = Settings(kinds=("files",), files=tuple(f"/{name}" for name in FILES))
LATER = timedelta(hours=2)  # past the grace period of everything written here


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / "root" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "root" / name).write_text(text)
    return tmp_path / "root"


def backup(repository: Repository, root: Path) -> Manifest:
    return run_backup(repository, Host(root, "web-1"), collectors_for(SETTINGS))


def listed(repository: Repository, prefix: str) -> set[str]:
    """The ids the store lists under ``prefix`` (its own listing, not prune's)."""
    return {name.rsplit("/", 1)[1] for name in repository.store.list(prefix)}


def stray_pack(repository: Repository) -> str:
    """A pack no snapshot names, as an interrupted backup leaves one."""
    writer = PackWriter(repository.key, repository.repository_id, "web-1")
    writer.add("files", b"\2" * 32, b"left by an interrupted backup")
    repository.store.put(pack_name(writer.pack_id), [writer.finish()])
    return writer.pack_id


def test_unused_packs_go_and_a_partly_used_one_is_repacked(
    packed: Repository, root: Path, tmp_path: Path
) -> None:
    first = backup(packed, root)
    (first_pack,) = listed(packed, "packs")
    (root / "etc/app.conf").write_text("debug = true\n")
    second = backup(packed, root)
    assert second.previous == first.id
    (second_pack,) = listed(packed, "packs") - {first_pack}
    stray = stray_pack(packed)
    forget_one(packed, first)  # its pack still holds redis.conf, which the second uses

    report = prune(packed, now=utc_now() + LATER, max_unused=0.0)

    assert (report.referenced, report.deleted, report.repacked) == (2, 1, 1)
    (new_pack,) = listed(packed, "packs") - {second_pack}
    assert listed(packed, "packs") == {second_pack, new_pack} and new_pack != first_pack
    assert stray not in listed(packed, "packs")
    assert listed(packed, "relocated") == {first_pack}
    # the second snapshot names the first as previous: the tombstone still proves a forget
    assert (report.tombstones, listed(packed, "forgotten")) == (0, {first.id})
    assert report.describe().endswith("interrupted writes; repacked 1 partly used pack(s)")
    restored = tmp_path / "restored"
    fresh = dataclasses.replace(packed)  # a new command: no pack fetched yet
    restore_snapshot(fresh, second, Host(restored, "web-1"), collectors_for(SETTINGS))
    assert (restored / "etc/redis/redis.conf").read_text() == FILES["etc/redis/redis.conf"]
    assert (restored / "etc/app.conf").read_text() == "debug = true\n"

    forget_one(packed, second)
    final = prune(packed, now=utc_now() + LATER, max_unused=0.0)

    assert (final.referenced, final.deleted, final.repacked, final.tombstones) == (0, 2, 0, 2)
    assert not listed(packed, "packs") and not listed(packed, "relocated")
    assert not listed(packed, "forgotten")
    assert final.describe().endswith("cleaned 0 leftover(s) of interrupted writes")


class Refusing(LocalStore):
    """A local store refusing to delete the objects named in ``kept``, as a bucket's default
    Object Lock retention does."""

    def __init__(self, path: Path, kept: set[str]) -> None:
        super().__init__(path)
        self.kept = kept

    def delete(self, name: str) -> None:
        if name in self.kept:
            raise ObjectLocked(f"{name} is under retention (Object Lock)")
        super().delete(name)


def test_a_tombstone_under_retention_is_skipped_and_the_others_still_go(packed: Repository) -> None:
    moment = utc_now() - timedelta(days=1)
    ids = sorted(new_snapshot_id(moment + timedelta(seconds=second)) for second in range(3))
    for snapshot in ids:
        write_tombstone(packed, SnapshotRef(snapshot, "web-1"))
    store = Refusing(packed.store.path, {f"forgotten/web-1/{ids[0]}"})  # type: ignore[attr-defined]

    report = prune(dataclasses.replace(packed, store=store))

    assert report.tombstones == 2
    assert listed(packed, "forgotten") == {ids[0]}


def test_an_unreadable_blob_list_stops_prune_before_any_deletion(
    packed: Repository, root: Path
) -> None:
    manifest = backup(packed, root)
    stray = stray_pack(packed)
    (record,) = [record for record in manifest.artifacts if record.present]
    blob_list = record.lists[0]
    path = packed.store.path / pack_name(blob_list.pack)  # type: ignore[attr-defined]
    data = bytearray(path.read_bytes())
    data[blob_list.offset + blob_list.length // 2] ^= 1
    path.write_bytes(bytes(data))
    packs = listed(packed, "packs")

    refused = rf"prune refused: snapshot web-1/{manifest.id} is unreadable \(.+\)$"
    with pytest.raises(IntegrityError, match=refused):
        prune(packed, now=utc_now() + LATER)
    assert listed(packed, "packs") == packs and stray in packs
