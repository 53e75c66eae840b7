"""The staging check refuses what the install cannot build (drtool/entry_tree.py), and passes
every tree drtool writes: real trees (Debian's and h5bp's /etc/nginx, and a tree of names that
sort apart from their paths, that are not UTF-8, that ustar cannot hold, a linked directory,
hard links, an artifact in two parts), captured by the files collector, pass the check and
install as the file system lists them (tree_listing, not drtool's record)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drtool.archive import PART_TARGET_SIZE
from drtool.capture import capture
from drtool.collectors.files import FilesCollector
from drtool.errors import UnsafeArchive
from drtool.host import Host
from drtool.install import StagedArtifact, install_roots
from drtool.snapshot import ArtifactRecord
from tests.conftest import tree_listing
from tests.support.nginx_trees import DATA
from tests.unit.test_install_roots import part_file, tar_member

NAMES = ["a", "a-b", "a.b", "a0", "B", "b", "é", "日本", "~", "n" * 200]


def odd_tree(app: Path) -> None:
    """Names whose order as names is not their paths' order ("a-b" < "a/x" as paths), not
    UTF-8, past ustar's 100 bytes; a linked directory; hard links; data past a part's size,
    so that a directory opened in the first part gets entries in the second."""
    (app / "a").mkdir(parents=True)
    (app / "a/x").write_text("x\n")
    for name in NAMES[1:]:
        (app / name).mkdir()
        (app / name / "f").write_text(name + "\n")
    (app / os.fsdecode(b"\xff\xfe")).write_text("not UTF-8\n")
    (app / "big").write_bytes(os.urandom(PART_TARGET_SIZE))
    (app / "c/d/e").mkdir(parents=True)
    (app / "c/d/e/deep").write_text("deep\n")
    (app / "c/linked").symlink_to("../a")
    os.link(app / "a/x", app / "c/hard")
    (app / "empty").mkdir()


@pytest.mark.parametrize(
    ("source", "paths"),
    [
        pytest.param(DATA / "debian-bookworm", ("/etc/nginx",), id="debian-nginx"),
        pytest.param(DATA / "h5bp", ("/etc/nginx",), id="h5bp-nginx"),
        pytest.param(None, ("/etc/app", "/etc/app.conf", "/etc/absent"), id="odd-names"),
    ],
)
def test_trees_drtool_writes_pass_the_check_and_install_as_they_are(
    tmp_path: Path, source: Path | None, paths: tuple[str, ...]
) -> None:
    if source is None:
        source = tmp_path / "source"
        odd_tree(source / "etc/app")
        (source / "etc/app.conf").write_text("top\n")
    (tmp_path / "staging").mkdir()
    staged = capture(Host(source, "src"), FilesCollector(paths), tmp_path / "staging")
    staged.check(refuse_linked_roots=True)
    target = tmp_path / "target"
    (target / "etc").mkdir(parents=True)
    install_roots(Host(target, "dst"), staged)
    for root in staged.installed_roots():
        assert tree_listing(target / root) == tree_listing(source / root)
    if paths[0] == "/etc/app":
        assert len(staged.part_paths) == 2


def staged_part(tmp_path: Path, members: list[tuple[str, bytes]], *roots: str) -> StagedArtifact:
    part = part_file(tmp_path / "files-0000.tar", *[(tar_member(n, k), b"") for n, k in members])
    return StagedArtifact(ArtifactRecord("files", True, roots or ("etc/app",)), (part,))


@pytest.mark.parametrize(
    ("members", "refused"),
    [
        (
            [("etc/app", b"5"), ("etc/app/b", b"0"), ("etc/app/a", b"0")],
            "archive entry 'etc/app/a' comes after 'etc/app/b', out of the order drtool "
            "writes (a directory's entries sorted by name); nothing written",
        ),
        (
            [("etc/app", b"5"), ("etc/app/a", b"5"), ("etc/app/b", b"0"), ("etc/app/a/x", b"0")],
            "archive entry 'etc/app/a/x' does not come right after a directory 'etc/app/a' and "
            "its other entries (the part's tree cannot be built); nothing written",
        ),
    ],
    ids=["siblings-unsorted", "back-into-a-directory-left"],
)
def test_an_order_drtool_never_writes_is_refused(
    tmp_path: Path, members: list[tuple[str, bytes]], refused: str
) -> None:
    """Stricter than the install, which would build these: the walk's order is what lets a
    path written twice be found in memory as deep as the tree, not as large as it."""
    with pytest.raises(UnsafeArchive) as raised:
        staged_part(tmp_path, members).check()
    assert str(raised.value) == refused


def test_a_root_without_an_entry_is_refused_before_any_root_is_swapped(tmp_path: Path) -> None:
    """A record that calls a root present, with no entry for it: the install swapped the roots
    before it in, then failed to rename the build it never made (FileNotFoundError), the host
    half restored. Refused at the check, and by the install before its first swap."""
    staged = staged_part(
        tmp_path, [("etc/app", b"5"), ("etc/app/new", b"0")], "etc/app", "etc/app.conf"
    )
    message = "snapshot root /etc/app.conf has no entry, and the record does not call it missing"
    with pytest.raises(UnsafeArchive, match=message):
        staged.check()
    target = tmp_path / "target"
    (target / "etc/app").mkdir(parents=True)
    (target / "etc/app/old").write_text("old\n")
    (target / "etc/app.conf").write_text("live\n")
    before = tree_listing(target / "etc")
    with pytest.raises(UnsafeArchive, match=message):
        install_roots(Host(target, "dst"), staged)
    assert tree_listing(target / "etc") == before


def test_a_file_that_is_a_root_and_a_directory_root_beside_it_pass(tmp_path: Path) -> None:
    """Roots in the record's order, each a walk of its own (a file root is one entry)."""
    members = [
        ("etc/app.conf", b"0"),
        ("etc/app", b"5"),
        ("etc/app/a", b"5"),
        ("etc/app/a/x", b"0"),
        ("etc/app/b", b"0"),
    ]
    staged = staged_part(tmp_path, members, "etc/app", "etc/app.conf")
    assert staged.check() == []
    target = tmp_path / "target"
    (target / "etc").mkdir(parents=True)
    install_roots(Host(target, "dst"), staged)
    assert sorted(tree_listing(target)) == sorted(["etc", *(name for name, _ in members)])


def test_a_root_inside_another_root_is_refused(tmp_path: Path) -> None:
    """Each root of a record is a tree of its own; a root inside another is written into the
    outer root's build by the install, its own build never made (the install then failed, or,
    before it checked, swapped the outer root in and failed on the inner one)."""
    members = [("etc/app", b"5"), ("etc/app/sub", b"5"), ("etc/app/sub/x", b"0")]
    staged = staged_part(tmp_path, members, "etc/app", "etc/app/sub")
    with pytest.raises(UnsafeArchive) as refused:
        staged.check()
    assert str(refused.value) == (
        "snapshot root /etc/app/sub lies in the root /etc/app (its entries would come twice); "
        "nothing written"
    )
    target = tmp_path / "target"
    (target / "etc").mkdir(parents=True)
    with pytest.raises(UnsafeArchive, match="/etc/app/sub has no entry"):  # the install's own
        install_roots(Host(target, "dst"), staged)
    assert [path.name for path in target.rglob("*")] == ["etc", "app"]  # a root's parent made
