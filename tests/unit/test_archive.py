"""Deterministic tar parts, and the safety rules that refuse entries before anything is written."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from drtool import archive
from drtool.archive import EntryType, FileEntry, check_entries, list_tree, write_parts
from drtool.errors import UnsafeArchive
from tests.support.artifacts import members_at


def entry(path: str, kind: EntryType = EntryType.FILE, target: str = "") -> FileEntry:
    return FileEntry(path, kind, 0o644, 0, 0, 0, 0, target)


def build_tree(root: Path) -> None:
    (root / "etc/app/sub").mkdir(parents=True)
    (root / "etc/app/a.conf").write_text("a\n")
    (root / "etc/app/sub/b.conf").write_bytes(os.urandom(100))
    (root / "etc/app/link").symlink_to("a.conf")
    os.utime(root / "etc/app/a.conf", ns=(1, 1_700_000_000_123_456_789))


def parts_bytes(root: Path) -> list[bytes]:
    entries, _ = list_tree(root, "etc/app")
    result = []
    for part in write_parts(entries, root):
        with part:
            result.append(part.read())
    return result


def test_same_tree_gives_same_bytes(tmp_path: Path) -> None:
    build_tree(tmp_path)
    assert parts_bytes(tmp_path) == parts_bytes(tmp_path)


def test_nanosecond_mtime_survives(tmp_path: Path) -> None:
    build_tree(tmp_path)
    (data,) = parts_bytes(tmp_path)
    (tmp_path / "part.tar").write_bytes(data)
    entries = {e.path: e for _, e in members_at(tmp_path / "part.tar")}
    assert entries["etc/app/a.conf"].mtime_ns == 1_700_000_000_123_456_789
    assert entries["etc/app/link"].link_target == "a.conf"


def test_large_trees_split_into_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "PART_TARGET_SIZE", 4096)
    root = tmp_path
    (root / "etc/big").mkdir(parents=True)
    for index in range(10):
        (root / f"etc/big/f{index}").write_bytes(os.urandom(3000))
    entries, _ = list_tree(root, "etc/big")
    parts = []
    for index, part in enumerate(write_parts(entries, root)):
        with part:
            (tmp_path / f"{index}.tar").write_bytes(part.read())
        parts.append([e.path for _, e in members_at(tmp_path / f"{index}.tar")])
    assert len(parts) > 1
    assert [path for part in parts for path in part] == [e.path for e in entries]


def test_a_part_that_reaches_the_target_size_exactly_is_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/FORMAT.md: a part is split "once it reaches" its target. Three blocks (a directory's
    header, a 512-byte file's header and data) make a part of exactly 1,536 bytes."""
    monkeypatch.setattr(archive, "PART_TARGET_SIZE", 1536)
    (tmp_path / "etc").mkdir()
    for name in ("a", "b"):
        (tmp_path / "etc" / name).write_bytes(b"x" * 512)
    directory = FileEntry("etc", EntryType.DIRECTORY, 0o755, 0, 0, 0)
    files = [FileEntry(f"etc/{name}", EntryType.FILE, 0o644, 0, 0, 0, 512) for name in "ab"]
    names = []
    for part in write_parts([directory, *files], tmp_path):
        with part, tarfile.open(fileobj=part, mode="r:") as opened:
            names.append(opened.getnames())
    assert names == [["etc", "etc/a"], ["etc/b"]]


def test_special_files_are_skipped_and_reported(tmp_path: Path) -> None:
    (tmp_path / "etc/app").mkdir(parents=True)
    os.mkfifo(tmp_path / "etc/app/fifo")
    entries, skipped = list_tree(tmp_path, "etc/app")
    assert [e.path for e in entries] == ["etc/app"] and skipped == ["etc/app/fifo"]


@pytest.mark.parametrize(
    "bad",
    [
        entry("etc/app/../../etc/shadow"),
        entry("/etc/app/x"),
        entry("etc/app//x"),
        entry("etc/other/x"),
        entry("etc/app/./x"),
    ],
    ids=["dotdot", "absolute", "empty-segment", "outside-roots", "dot"],
)
def test_unsafe_paths_are_refused(bad: FileEntry) -> None:
    with pytest.raises(UnsafeArchive):
        check_entries([entry("etc/app", EntryType.DIRECTORY), bad], ["etc/app"])


def test_entry_below_a_symlink_is_refused() -> None:
    entries = [
        entry("etc/app", EntryType.DIRECTORY),
        entry("etc/app/d", EntryType.SYMLINK, "/etc/cron.d"),
        entry("etc/app/d/evil"),
    ]
    with pytest.raises(UnsafeArchive, match="below the symlink"):
        check_entries(entries, ["etc/app"])


def test_relative_symlink_climbing_out_of_the_root_is_refused() -> None:
    entries = [entry("etc/app/x", EntryType.SYMLINK, "../../../etc/shadow")]
    with pytest.raises(UnsafeArchive, match="outside the host root"):
        check_entries(entries, ["etc/app"])


def test_legitimate_symlinks_pass() -> None:
    check_entries(
        [
            entry("etc/nginx/sites-enabled/a", EntryType.SYMLINK, "/etc/nginx/sites-available/a"),
            entry("etc/nginx/sites-enabled/b", EntryType.SYMLINK, "../sites-available/b"),
            entry("etc/nginx/x", EntryType.SYMLINK, "../../etc/hosts"),
        ],
        ["etc/nginx"],
    )


@pytest.mark.parametrize(
    "kind, word",
    [(tarfile.LNKTYPE, "hard link"), (tarfile.CHRTYPE, "device"), (tarfile.FIFOTYPE, "fifo")],
)
def test_special_members_are_refused(kind: bytes, word: str) -> None:
    member = tarfile.TarInfo("etc/app/x")
    member.type = kind
    with pytest.raises(UnsafeArchive, match=word):
        archive.entry_from_member(member)
