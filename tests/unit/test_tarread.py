"""drtool's own tar reader against Python's tarfile (the oracle) on every shape drtool's writer
emits, and its refusal of everything else (GNU tar's and tarfile's other formats included)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from drtool.archive import (
    EntryType,
    FileEntry,
    entry_from_member,
    list_tree,
    member_header,
    write_parts,
)
from drtool.errors import UnsafeArchive
from drtool.tarread import _byte_sum, opened_part, read_part
from tests.support.artifacts import members_at

# mtime aside: tarfile makes the pax record a float, drtool reads the record's text (below).
FIELDS = ("name", "type", "mode", "uid", "gid", "size", "linkname", "offset_data")


def drtool_part(tmp_path: Path) -> Path:
    """One part of drtool's writer holding every shape it emits: long and non-UTF-8 names, a
    long link target, an id past the ustar field, nanosecond and pre-1970 times, outputs."""
    root = tmp_path / "root"
    base = root / "etc/app"
    deep = base / ("d" * 90) / ("e" * 90)
    deep.mkdir(parents=True)
    (deep / "long-name.conf").write_text("deep\n")
    (base / "café.conf").write_text("accent\n")
    descriptor = os.open(os.fsencode(base) + b"/latin1-\xe9.conf", os.O_WRONLY | os.O_CREAT)
    os.write(descriptor, b"not utf-8 name\n")
    os.close(descriptor)
    (base / "link").symlink_to("x" * 150)
    (base / "big-id").write_bytes(os.urandom(3000))
    os.utime(base / "café.conf", ns=(0, 1_700_000_000_123_456_789))
    os.utime(base / "big-id", ns=(0, -86_400_000_000_000))
    entries, _ = list_tree(root, "etc/app")
    entries = [
        FileEntry(e.path, e.type, e.mode, 3_000_000, 4_000_000, e.mtime_ns, e.size, e.link_target)
        if e.path.endswith("big-id")
        else e
        for e in entries
    ]
    (part,) = write_parts(entries, root, {"v4.rules": b"*filter\nCOMMIT\n"})
    path = tmp_path / "part.tar"
    with part:
        path.write_bytes(part.read())
    return path


def test_every_shape_drtool_writes_reads_as_tarfile_reads_it(tmp_path: Path) -> None:
    path = drtool_part(tmp_path)
    with tarfile.open(path) as oracle:
        expected = oracle.getmembers()
        contents = {
            m.name: oracle.extractfile(m).read()
            for m in expected
            if m.isreg()  # type: ignore[union-attr]
        }
    members = read_part(path)
    assert [[getattr(m, f) for f in FIELDS] for m in members] == [
        [getattr(m, f) for f in FIELDS] for m in expected
    ]
    assert [m.pax_headers.get("mtime") for m in members] == [
        m.pax_headers.get("mtime") for m in expected
    ]
    assert {m.pax_headers.get("hdrcharset") for m in members} == {None, "BINARY"}
    with opened_part(path) as part:
        assert {m.name: part.extractfile(m).read() for m in members if m.isreg()} == contents
        copied = tmp_path / "copied"
        for member in members:
            if member.isreg():
                with copied.open("wb") as output:
                    part.copy_to(member, output.fileno())
                assert copied.read_bytes() == contents[member.name]


def test_entries_are_those_of_tarfile(tmp_path: Path) -> None:
    path = drtool_part(tmp_path)
    entries = [entry for _, entry in members_at(path)]
    with tarfile.open(path) as oracle:
        assert entries == [entry_from_member(m) for m in oracle.getmembers()]
    assert any(e.type is EntryType.SYMLINK and e.link_target == "x" * 150 for e in entries)
    assert any(e.mtime_ns == 1_700_000_000_123_456_789 for e in entries)
    assert any(e.uid == 3_000_000 and e.mtime_ns == -86_400_000_000_000 for e in entries)


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes], **options: object) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", **options) as archive:  # type: ignore[call-overload]
        for member, data in members:
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def refused(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "hostile.tar"
    path.write_bytes(data)
    with pytest.raises(UnsafeArchive) as raised:
        members_at(path)
    return str(raised.value)


PAX = tarfile.PAX_FORMAT
GOOD = tar_bytes((member("etc/app/a"), b"a\n"), format=PAX)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty file"),
        (GOOD[:700], "not a whole number of blocks"),
        (GOOD[:1024], "no end-of-archive block"),
        (GOOD[:512], "unexpected end of data"),
        (GOOD + b"\x00" * 511 + b"x", "after the end-of-archive block"),
        (b"X" + GOOD[1:], "bad checksum"),
        (tar_bytes((member("a" * 120), b""), format=tarfile.GNU_FORMAT), "POSIX ustar"),
        (
            tar_bytes((member("etc/app/a", pax_headers={"atime": "1"}), b""), format=PAX),
            "'atime'",
        ),
        (
            tar_bytes((member("etc/app/a"), b""), format=PAX, pax_headers={"comment": "x"}),
            "type b'g'",
        ),
        (tar_bytes((member("etc/app/a", tarfile.AREGTYPE), b"x")), "type b'\\x00'"),
        (tar_bytes((member("etc/app/a", tarfile.CONTTYPE), b"x")), "type b'7'"),
        (tar_bytes((member("etc/app/h", tarfile.LNKTYPE, linkname="etc/app/a"), b"")), "hard link"),
        (tar_bytes((member("etc/app/f", tarfile.FIFOTYPE), b"")), "fifo"),
        (tar_bytes((member("etc/app/c", tarfile.CHRTYPE), b"")), "device file"),
        (
            tar_bytes((member("etc/app/" + "a" * 9000), b""), format=PAX),
            "pax header longer than any drtool writes",
        ),
    ],
)
def test_what_drtool_never_writes_is_refused(tmp_path: Path, data: bytes, words: str) -> None:
    assert words in refused(tmp_path, data)


def test_a_directory_carrying_data_is_refused(tmp_path: Path) -> None:
    data = bytearray(tar_bytes((member("etc/app/d", tarfile.DIRTYPE), b"")))
    data[124:136] = b"00000001000\x00"  # size 512, checksum fixed below as tar would
    data[148:156] = b"        "
    data[148:156] = b"%06o\x00 " % sum(data[:512])
    assert "carries data" in refused(tmp_path, bytes(data))


def test_a_gnu_sparse_member_is_refused_as_sparse(tmp_path: Path) -> None:
    tree = tmp_path / "tree/etc/app"
    tree.mkdir(parents=True)
    with (tree / "huge").open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    archive = tmp_path / "sparse.tar"
    subprocess.run(
        [
            "tar",
            "--format=pax",
            "--sparse",
            "-cf",
            str(archive),
            "-C",
            str(tmp_path / "tree"),
            "etc/app/huge",
        ],
        check=True,
    )
    assert "sparse file" in refused(tmp_path, archive.read_bytes())


def with_checksum(data: bytearray) -> bytes:
    """``data`` with its first header's checksum as tar computes it."""
    data[148:156] = b"        "
    data[148:156] = b"%06o\x00 " % sum(data[:512])
    return bytes(data)


@pytest.mark.parametrize(
    ("start", "field"),
    [
        (100, b"0000648\x00"),  # mode: an 8
        (108, b"   1750\x00"),  # uid: padded with spaces, as some tars write
        (116, b"0001750 "),  # gid: ended by a space
        (124, b"0000000009\x00\x00"),  # size: ended by two NULs
        (136, b"\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"),  # mtime: base-256
    ],
)
def test_numeric_fields_other_than_octal_digits_are_refused(
    tmp_path: Path, start: int, field: bytes
) -> None:
    data = bytearray(tar_bytes((member("etc/app/a"), b"")))
    data[start : start + len(field)] = field
    assert "not octal digits" in refused(tmp_path, with_checksum(data))


def test_the_checksum_sum_is_python_sum() -> None:
    """_byte_sum (two Adler-32 sums) against sum() on random blocks and the extremes."""
    blocks = [os.urandom(512) for _ in range(2000)]
    blocks += [bytes(512), b"\xff" * 512, b"\xff" * 256 + bytes(256), bytes(256) + b"\xff" * 256]
    assert [_byte_sum(block) for block in blocks] == [sum(block) for block in blocks]


def test_malformed_pax_records_are_refused(tmp_path: Path) -> None:
    pax = tar_bytes((member("etc/app/a", pax_headers={"mtime": "1.5"}), b"a"), format=PAX)
    record = b"13 mtime=1.5\n"
    assert record in pax
    for bad in (b"14 mtime=1.5\n", b"1x mtime=1.5\n", b"13 mtime 1.5\n", b"12 mtime=1.5 "):
        data = bytearray(pax.replace(record, bad))
        data[148:156] = b"        "
        data[148:156] = b"%06o\x00 " % sum(data[:512])
        assert "pax record" in refused(tmp_path, bytes(data))


def test_the_longest_pax_header_drtool_writes_is_read(tmp_path: Path) -> None:
    """Names of 4,095 bytes, not UTF-8, a large owner and nanoseconds: the most pax records
    drtool's writer emits for one member stay under the reader's bound."""
    name = "etc/" + os.fsdecode(b"\xff" * 4091)
    entry = FileEntry(
        name, EntryType.SYMLINK, 0o777, 3_000_000, 4_000_000, 1_700_000_000_123_456_789,
        link_target="/" + os.fsdecode(b"\xfe" * 4094),
    )  # fmt: skip
    path = tmp_path / "part.tar"
    path.write_bytes(member_header(entry) + bytes(1024))
    assert [read for _, read in members_at(path)] == [entry]
