"""Tar parts as drtool writes and reads them (docs/FORMAT.md, "Payload of an artifact part" and
"Safety rules"), through the public functions only, so that the tests outlive a rewrite.

The oracle is Python's own tarfile: members are made with it (a pax mtime, an owner, a type)
and parts drtool wrote are opened with it, never with drtool's reader; trees are compared with
what os.lstat says. Written for the mutants that survived tests/unit/test_archive.py."""

from __future__ import annotations

import gc
import io
import os
import stat
import tarfile
import tempfile
import warnings
from pathlib import Path

import pytest

from drtool.archive import (
    OUTPUT_PREFIX,
    EntryType,
    FileEntry,
    check_entries,
    check_output_name,
    check_relative_path,
    check_roots_are_not_links,
    list_tree,
    write_parts,
)
from drtool.errors import CollectError, UnsafeArchive
from tests.support.artifacts import members_at

MAX_ID = 2**32 - 2  # docs/FORMAT.md: (uid_t)-1 means "unchanged" to chown
MTIME_NS = 1_700_000_000_987_654_321


def part_with(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    """A tar part made by Python's tarfile."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def members_of(part: bytes) -> list[tuple[tarfile.TarInfo, FileEntry]]:
    """What drtool's reader (members_at, from a file as restore reads its staged parts) makes
    of the tar part ``part``."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "part.tar")
        path.write_bytes(part)
        return members_at(path)


def member(name: str, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    for field, value in fields.items():
        setattr(info, field, value)
    return info


def read_one(info: tarfile.TarInfo, data: bytes = b"") -> FileEntry:
    ((_, entry),) = members_of(part_with((info, data)))
    return entry


def test_a_tree_written_and_read_back_is_what_lstat_says(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/app/sub").mkdir(parents=True)
    (root / "etc/app/a.conf").write_bytes(b"x" * 1234)
    (root / "etc/app/a.conf").chmod(0o4640)
    (root / "etc/app/link").symlink_to("sub")
    os.chown(root / "etc/app/a.conf", 4321, 8765)
    for path in (root / "etc/app/a.conf", root / "etc/app/link", root / "etc/app/sub"):
        os.utime(path, ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    entries, skipped = list_tree(root, "etc/app")
    assert skipped == []
    assert [(e.path, e.type, e.link_target) for e in entries] == [
        ("etc/app", EntryType.DIRECTORY, ""),
        ("etc/app/a.conf", EntryType.FILE, ""),
        ("etc/app/link", EntryType.SYMLINK, "sub"),
        ("etc/app/sub", EntryType.DIRECTORY, ""),
    ]
    (part,) = write_parts(entries, root)
    with part:
        data = part.read()
    read = {entry.path: entry for _, entry in members_of(data)}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        names = {(info.uname, info.gname) for info in archive.getmembers()}
    assert names == {("", "")}, "owners by number only, no names"
    assert sorted(read) == ["etc/app", "etc/app/a.conf", "etc/app/link", "etc/app/sub"]
    for path, entry in read.items():
        status = (root / path).lstat()
        kind = {stat.S_IFREG: EntryType.FILE, stat.S_IFDIR: EntryType.DIRECTORY}
        assert entry.type is kind.get(stat.S_IFMT(status.st_mode), EntryType.SYMLINK), path
        assert (entry.mode, entry.uid, entry.gid) == (
            stat.S_IMODE(status.st_mode),
            status.st_uid,
            status.st_gid,
        ), path
        assert entry.mtime_ns == status.st_mtime_ns, path
        assert entry.size == (status.st_size if entry.type is EntryType.FILE else 0), path
        expected_target = os.readlink(root / path) if entry.type is EntryType.SYMLINK else ""
        assert entry.link_target == expected_target, path


def test_command_outputs_come_first_as_private_members_with_no_time(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    entries, _ = list_tree(tmp_path, "etc")
    outputs = {"v4": b"*filter\nCOMMIT\n", "networks.json": b"[]"}
    (part,) = write_parts(entries, tmp_path, outputs)
    with part, tarfile.open(fileobj=part, mode="r:") as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == [
            f"{OUTPUT_PREFIX}networks.json",
            f"{OUTPUT_PREFIX}v4",
            "etc",
        ]
        for info in members[:2]:
            assert info.isreg() and info.mode == 0o600 and info.mtime == 0
            assert (info.uname, info.gname) == ("", "")
            source = archive.extractfile(info)
            assert source is not None
            assert source.read() == outputs[info.name.removeprefix(OUTPUT_PREFIX)]


@pytest.mark.parametrize("name", ["../v4", "a/b", ".hidden", "", "v 4"])
def test_an_output_name_that_is_not_a_plain_name_is_refused(name: str) -> None:
    with pytest.raises(UnsafeArchive) as refused:
        check_output_name(name)
    assert str(refused.value) == f"command output name {name!r} is not valid; nothing written"
    assert check_output_name("legacy-v4.json") == "legacy-v4.json"


@pytest.mark.parametrize(
    ("pax_mtime", "expected_ns"),
    [
        ("1700000000.5", 1_700_000_000_500_000_000),
        ("1700000000.987654321", 1_700_000_000_987_654_321),
        ("1700000000", 1_700_000_000_000_000_000),
        ("-1.25", -1_250_000_000),
        ("-10.000000001", -10_000_000_001),
        ("0.1", 100_000_000),
        ("4611686018.427387904", 2**62),  # the largest time accepted
        ("-4611686018.427387904", -(2**62)),
    ],
)
def test_a_pax_mtime_is_read_to_the_nanosecond(pax_mtime: str, expected_ns: int) -> None:
    info = member("etc/a", type=tarfile.REGTYPE, pax_headers={"mtime": pax_mtime})
    assert read_one(info).mtime_ns == expected_ns


def test_a_member_without_a_pax_mtime_has_whole_seconds() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        archive.addfile(member("etc/a", mtime=1_700_000_123))
    buffer.seek(0)
    ((_, entry),) = members_of(buffer.getvalue())
    assert entry.mtime_ns == 1_700_000_123_000_000_000


@pytest.mark.parametrize(
    ("pax_mtime", "problem"),
    [
        ("1.2.3", "a malformed"),
        ("1e9", "a malformed"),
        ("1.1234567891", "a malformed"),  # more than nanoseconds
        ("4611686019", "an out-of-range"),  # just over 2**62 ns
        ("-4611686019", "an out-of-range"),
    ],
)
def test_a_bad_pax_mtime_is_refused(pax_mtime: str, problem: str) -> None:
    info = member("etc/a", pax_headers={"mtime": pax_mtime})
    with pytest.raises(UnsafeArchive) as refused:
        read_one(info)
    assert str(refused.value) == (
        f"archive entry 'etc/a' has {problem} modification time; nothing written"
    )


def test_owners_up_to_the_largest_valid_id_are_kept_and_beyond_refused() -> None:
    entry = read_one(member("etc/a", uid=MAX_ID, gid=MAX_ID))
    assert (entry.uid, entry.gid) == (MAX_ID, MAX_ID)
    for owner in ({"uid": MAX_ID + 1}, {"gid": MAX_ID + 1}):
        with pytest.raises(UnsafeArchive) as refused:
            read_one(member("etc/a", **owner))
        assert str(refused.value) == "archive entry 'etc/a' has an invalid owner; nothing written"


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"type": tarfile.LNKTYPE, "linkname": "etc/b"}, "hard link"),
        ({"type": tarfile.CHRTYPE}, "device file"),
        ({"type": tarfile.BLKTYPE}, "device file"),
        ({"type": tarfile.FIFOTYPE}, "fifo"),
    ],
)
def test_members_drtool_never_restores_are_named_in_the_refusal(fields: dict, word: str) -> None:
    with pytest.raises(UnsafeArchive) as refused:
        read_one(member("etc/a", **fields))
    assert str(refused.value) == (
        f"archive entry 'etc/a' is a {word}, which drtool never restores; nothing written"
    )


def test_a_type_tar_does_not_know_is_refused_by_the_reader() -> None:
    with pytest.raises(UnsafeArchive) as refused:
        read_one(member("etc/a", type=b"Z"))
    assert str(refused.value) == (
        "archive entry 'etc/a' has tar type b'Z', which drtool never writes; nothing written"
    )


def test_sizes_and_targets_belong_to_files_and_links_only() -> None:
    assert read_one(member("etc/a", size=3), b"abc").size == 3
    directory = read_one(member("etc/d", type=tarfile.DIRTYPE, linkname="x"))
    assert (directory.type, directory.size, directory.link_target) == (EntryType.DIRECTORY, 0, "")
    link = read_one(member("etc/l", type=tarfile.SYMTYPE, linkname="d"))
    assert (link.type, link.size, link.link_target) == (EntryType.SYMLINK, 0, "d")
    assert read_one(member("etc/a"), b"").link_target == ""


@pytest.mark.parametrize("path", ["", "/etc/a", "etc/a\x00b", "etc//a", "etc/./a", "etc/../a"])
def test_a_path_that_is_not_plainly_relative_is_refused(path: str) -> None:
    with pytest.raises(UnsafeArchive) as refused:
        check_relative_path(path)
    assert str(refused.value) == (
        f"archive entry {path!r} is not a safe relative path; nothing written"
    )


def entry(path: str, kind: EntryType = EntryType.FILE, target: str = "") -> FileEntry:
    return FileEntry(path, kind, 0o644, 0, 0, 0, link_target=target)


def test_an_entry_outside_the_roots_is_refused_by_name() -> None:
    with pytest.raises(UnsafeArchive) as refused:
        check_entries([entry("etc/app/a"), entry("etc/other")], ["etc/app"])
    assert str(refused.value) == (
        "archive entry 'etc/other' lies outside the artifact's roots; nothing written"
    )


@pytest.mark.parametrize(
    ("root", "link", "below"),
    [
        ("etc/app", "etc/app/l", "etc/app/l/sub/deeper/a"),
        ("e", "e", "e/a"),  # a link one letter long, at the top
    ],
)
def test_an_entry_below_a_link_deeper_up_is_refused(root: str, link: str, below: str) -> None:
    with pytest.raises(UnsafeArchive) as refused:
        check_entries([entry(link, EntryType.SYMLINK, "x"), entry(below)], [root])
    assert str(refused.value) == (
        f"archive entry {below!r} lies below the symlink {link!r}; nothing written"
    )


@pytest.mark.parametrize("target", ["", "a\x00b"])
def test_a_link_without_a_usable_target_is_refused(target: str) -> None:
    with pytest.raises(UnsafeArchive) as refused:
        check_entries([entry("etc/app/l", EntryType.SYMLINK, target)], ["etc/app"])
    assert str(refused.value) == "symlink 'etc/app/l' has an invalid target; nothing written"


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("etc/app/l", "/etc/ssl/certs"),  # a host path: inside the host root by construction
        ("etc/app/l", "/../../../../etc/x"),  # ... however it climbs
        ("etc/app/l", "../../x"),  # up to the root, not beyond
        ("etc/app/l", "./../.././/x"),  # "." and "" segments climb nothing
        ("etc/app/l", "a/../../../x"),  # down one, then up to the root
    ],
)
def test_links_that_stay_in_the_root_pass(path: str, target: str) -> None:
    check_entries([entry(path, EntryType.SYMLINK, target)], ["etc/app"])


@pytest.mark.parametrize("target", ["../../../x", "./../../../x", "a/../../../../x", "..//../../x"])
def test_links_that_climb_out_of_the_root_are_refused(target: str) -> None:
    with pytest.raises(UnsafeArchive) as refused:
        check_entries([entry("etc/app/l", EntryType.SYMLINK, target)], ["etc/app"])
    assert str(refused.value) == (
        f"symlink 'etc/app/l' -> {target!r} points outside the host root; nothing written"
    )


def test_a_root_that_is_a_link_is_refused_and_a_link_inside_one_is_not() -> None:
    inside = entry("etc/app/l", EntryType.SYMLINK, "x")
    check_roots_are_not_links([entry("etc/app", EntryType.DIRECTORY), inside], ["etc/app"])
    check_roots_are_not_links([entry("etc/app.conf")], ["etc/app.conf"])
    long_target = "/" + "t" * 200
    with pytest.raises(UnsafeArchive) as refused:
        check_roots_are_not_links([entry("etc/app", EntryType.SYMLINK, long_target)], ["etc/app"])
    assert str(refused.value) == (
        f"snapshot root /etc/app is a symlink (to {long_target[:100]!r}): a root is restored as "
        "a directory or a file, never as a link; nothing written"
    )


def test_a_truncated_part_is_refused_in_one_line() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(member("etc/d", type=tarfile.DIRTYPE))
        archive.addfile(member("etc/f", size=3000), io.BytesIO(b"x" * 3000))
    truncated = io.BytesIO(buffer.getvalue()[:2048])
    with pytest.raises(UnsafeArchive) as refused:
        members_of(truncated.getvalue())
    assert str(refused.value) == "archive part is not a valid tar: unexpected end of data"


def write_a_file_gone_since_it_was_listed(root: Path) -> tuple[str, list]:
    """write_parts over a file removed after list_tree: the error's message, and the warnings
    given until everything it made is garbage (its traceback included)."""
    (root / "etc/app").mkdir(parents=True)
    (root / "etc/app/a.conf").write_text("x\n")
    entries, _ = list_tree(root, "etc/app")
    (root / "etc/app/a.conf").unlink()
    message = ""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            for part in write_parts(entries, root):
                part.close()
        except CollectError as error:
            message = str(error)
        gc.collect()
    return message, seen


def test_a_file_gone_since_it_was_listed_fails_the_backup_naming_it(tmp_path: Path) -> None:
    message, _ = write_a_file_gone_since_it_was_listed(tmp_path)
    assert message == (
        "cannot read /etc/app/a.conf: No such file or directory (did it change during backup?)"
    )
    with pytest.raises(CollectError) as failed:
        list_tree(tmp_path, "etc/missing")
    assert str(failed.value) == "cannot read /etc/missing: No such file or directory"


def test_a_failed_write_leaves_no_part_open(tmp_path: Path) -> None:
    _, seen = write_a_file_gone_since_it_was_listed(tmp_path)
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []
