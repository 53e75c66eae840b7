"""An install caught midway (drtool/install.py), fast and in-process: at its named points
(drtool/testpoint.py, armed here as DRTOOL_TESTPOINT arms them for the kill tests, with ``:raise``
so that the process survives to look), and while a file's data is being written. What is on
disk then is what a crash leaves, or what a local user can open meanwhile.

The oracle is the file system: os.lstat, the files' bytes, the directory listings."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from drtool import testpoint
from drtool.capture import capture
from drtool.collectors.files import FilesCollector
from drtool.host import Host
from drtool.install import install_roots, remove_roots
from drtool.tarread import PartData
from tests.conftest import tree_listing
from tests.unit.test_install_roots import expected_modes, make_source, staged_from


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    make_source(root)
    return root


@pytest.fixture
def live(tmp_path: Path) -> Path:
    """A host whose roots hold an older configuration: etc/app a tree, etc/app.conf a file."""
    root = tmp_path / "target"
    (root / "etc/app/old.d").mkdir(parents=True)
    (root / "etc/app/old.d/old.conf").write_text("old tree\n")
    (root / "etc/app.conf").write_text("old file\n")
    return root


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Arm a test point as ``DRTOOL_TESTPOINT=...`` does (the variable is read at import)."""

    def armed(target: str) -> None:
        monkeypatch.setattr(testpoint, "_TARGET", target)
        monkeypatch.setattr(testpoint, "_seen", {})

    return armed


def names_in(directory: Path) -> list[str]:
    """The directory's entries, builds and asides shown with their random part as ``*``."""
    return sorted(
        re.sub(r"drtool-(new|old)-[0-9a-f]+$", r"drtool-\1-*", p.name) for p in directory.iterdir()
    )


def only(directory: Path, pattern: str) -> Path:
    (found,) = directory.glob(pattern)
    return found


def test_a_crash_with_a_tree_set_aside_leaves_the_old_and_the_new_tree_whole(
    source: Path, tmp_path: Path, live: Path, arm: Callable[[str], None]
) -> None:
    old = tree_listing(live / "etc/app")
    arm("install:aside:raise")
    with pytest.raises(testpoint.InjectedBug):
        install_roots(Host(live, "dst"), staged_from(source, tmp_path))
    etc = live / "etc"
    assert names_in(etc) == [
        ".app.conf.drtool-new-*",
        ".app.drtool-new-*",
        ".app.drtool-old-*",
        "app.conf",
    ], "the live tree aside, every root built beside its place, nothing else"
    assert tree_listing(only(etc, ".app.drtool-old-*")) == old
    assert tree_listing(only(etc, ".app.drtool-new-*")) == expected_modes(
        tree_listing(source / "etc/app"), keep_setid=True
    ), "the new tree is complete, its final modes set, before the old one goes aside"
    assert (etc / "app.conf").read_text() == "old file\n"
    arm("")
    install_roots(Host(live, "dst"), staged_from(source, tmp_path / "again"))
    assert names_in(etc) == ["app", "app.conf"], "the next install removes what the crash left"


def test_a_crash_between_two_roots_leaves_the_first_swapped_and_the_second_as_it_was(
    source: Path, tmp_path: Path, live: Path, arm: Callable[[str], None]
) -> None:
    arm("install:swapped:raise")
    with pytest.raises(testpoint.InjectedBug):
        install_roots(Host(live, "dst"), staged_from(source, tmp_path))
    etc = live / "etc"
    assert names_in(etc) == [".app.conf.drtool-new-*", "app", "app.conf"]
    assert (etc / "app/main.conf").read_text() == "listen 443\n"
    assert (etc / "app.conf").read_text() == "old file\n"
    assert only(etc, ".app.conf.drtool-new-*").read_text() == "top\n"


def test_a_live_file_is_replaced_by_one_rename_and_is_never_missing(
    source: Path, tmp_path: Path, live: Path, arm: Callable[[str], None]
) -> None:
    """Only a directory goes aside (install:aside): a second time would be the file root."""
    arm("install:aside#2:raise")
    install_roots(Host(live, "dst"), staged_from(source, tmp_path))
    assert (live / "etc/app.conf").read_text() == "top\n"


def test_the_old_tree_is_put_back_when_the_new_one_cannot_take_its_place(
    source: Path, tmp_path: Path, live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build taken away at install:aside (by another process, say): the second rename
    fails, and the live tree is the old one again, whole, under its own name."""
    old = tree_listing(live / "etc/app")
    taken = tmp_path / "taken"

    def take_the_build(name: str) -> None:
        if name == "install:aside":
            only(live / "etc", ".app.drtool-new-*").rename(taken)

    monkeypatch.setattr(testpoint, "reached", take_the_build)
    with pytest.raises(FileNotFoundError):
        install_roots(Host(live, "dst"), staged_from(source, tmp_path))
    assert tree_listing(live / "etc/app") == old
    assert not list((live / "etc").glob(".app.drtool-old-*"))


def test_a_file_is_private_while_its_data_is_written(
    source: Path, tmp_path: Path, live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a file's bytes go in, the file is 0600 and every directory of its build 0700: its
    final mode (0644, or 0755 on a tree kept 0700) comes only with its complete content."""
    copy_to, seen = PartData.copy_to, {}
    etc = live / "etc"

    def watched(self: PartData, member: object, output: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{output}"))
        builds = [parent for parent in path.parents if etc in parent.parents]
        modes = [stat.S_IMODE(os.lstat(directory).st_mode) for directory in builds]
        seen[path.relative_to(etc).as_posix()] = (stat.S_IMODE(os.fstat(output).st_mode), modes)
        copy_to(self, member, output)

    monkeypatch.setattr(PartData, "copy_to", watched)
    install_roots(Host(live, "dst"), staged_from(source, tmp_path))
    files = {re.sub(r"-[0-9a-f]+(/|$)", r"-*\1", name): modes for name, modes in seen.items()}
    assert files == {
        ".app.conf.drtool-new-*": (0o600, []),
        ".app.drtool-new-*/conf.d/site.conf": (0o600, [0o700, 0o700]),
        ".app.drtool-new-*/main.conf": (0o600, [0o700]),
        ".app.drtool-new-*/run.sh": (0o600, [0o700]),
        ".app.drtool-new-*/secret.key": (0o600, [0o700]),
    }


def assert_installed_and_removed(tmp_path: Path, *names: str) -> None:
    """Roots etc/NAME, a tree and a file for each name, installed over older ones in one
    install, then removed."""
    roots = [f"etc/{name}{suffix}" for name in names for suffix in ("", "-f")]
    source, target = tmp_path / "source", tmp_path / "target"
    for host in (source, target):
        for root in roots:
            if root.endswith("-f"):
                (host / root).parent.mkdir(parents=True, exist_ok=True)
                (host / root).write_text(f"{host.name}\n")
            else:
                (host / root).mkdir(parents=True)
                (host / root / "a.conf").write_text(f"{host.name}\n")
    (tmp_path / "staging").mkdir()
    collector = FilesCollector(tuple(f"/{root}" for root in roots))
    install_roots(
        Host(target, "dst"), capture(Host(source, "src"), collector, tmp_path / "staging")
    )
    for root in roots:
        written = target / root if root.endswith("-f") else target / root / "a.conf"
        assert written.read_text() == "source\n", root
    assert sorted(path.name for path in (target / "etc").iterdir()) == sorted(
        root.removeprefix("etc/") for root in roots
    ), "no build or aside left"
    remove_roots(Host(target, "dst"), roots)
    assert list((target / "etc").iterdir()) == []


@pytest.mark.parametrize(
    "name",
    [
        "d" * 232,  # with "-f", 234 bytes: ".NAME.drtool-new-XXXXXXXX" is NAME_MAX (255) long
        "d" * 233,  # 235 bytes: one too many for that name, so a build is named otherwise
        "d" * 253,  # 255 bytes: the longest file name
        "é" * 126,  # 254 bytes in 128 characters: file names are measured in bytes
    ],
)
def test_roots_named_up_to_the_longest_file_name_are_installed_and_removed(
    tmp_path: Path, name: str
) -> None:
    """Found by the mutants of the builds' random names (a longer one than 8 hex digits
    survived): a root named with more than 234 bytes had no room for its build's name, and its
    restore failed with "File name too long"."""
    assert_installed_and_removed(tmp_path, name)


def test_roots_whose_names_look_alike_each_get_their_own_build(tmp_path: Path) -> None:
    """A root named ``a*`` took the build of the root ``ab`` for its own leftover (a glob) and
    removed it before it was swapped in: the restore failed half done. Long names alike for
    their first 200 bytes are told apart too."""
    assert_installed_and_removed(tmp_path, "a*", "ab", "a[b]", "x" * 240 + "1", "x" * 240 + "2")
