"""drtool/tarheader.py builds the header blocks of format 2's members itself: each must be, byte
for byte, what Python's tarfile writes for the same member in PAX format (the oracle here), and
whatever it does not cover must be left to tarfile."""

from __future__ import annotations

import random
import tarfile
from decimal import Decimal

import pytest

from drtool.archive import EntryType, FileEntry, member_header, output_header
from drtool.tarheader import fast_header

_TYPES = {EntryType.FILE: tarfile.REGTYPE, EntryType.DIRECTORY: tarfile.DIRTYPE}


def tarfile_header(entry: FileEntry) -> bytes:
    """The header tarfile writes for ``entry``, built from tarfile's own TarInfo."""
    info = tarfile.TarInfo(entry.path)
    info.mode, info.uid, info.gid = entry.mode, entry.uid, entry.gid
    info.uname = info.gname = ""
    seconds, nanoseconds = divmod(entry.mtime_ns, 10**9)
    info.mtime = seconds
    if nanoseconds:  # the time as a decimal number, nine places (-0.500000000 before 1970)
        info.pax_headers = {"mtime": f"{Decimal(entry.mtime_ns).scaleb(-9):f}"}
    info.type = _TYPES.get(entry.type, tarfile.SYMTYPE)
    if entry.type is EntryType.FILE:
        info.size = entry.size
    if entry.type is EntryType.SYMLINK:
        info.linkname = entry.link_target
    return info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


def random_entry(rng: random.Random) -> FileEntry:
    kind = rng.choice(list(EntryType))
    path = "/".join(
        "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789._-") for _ in range(rng.randint(1, 30))
        )
        for _ in range(rng.randint(1, 5))
    )
    return FileEntry(
        path=path,
        type=kind,
        mode=rng.choice([0o644, 0o600, 0o755, 0o4755, 0o1777, 0]),
        uid=rng.choice([0, 33, 1000, 65534, 8**7 - 1, 8**7, 3_000_000]),
        gid=rng.choice([0, 33, 1000, 8**7 - 1, 8**7]),
        mtime_ns=rng.choice([0, 10**9, 1_700_000_000_000_000_000, rng.randrange(2**62), -5 * 10**9])
        + rng.choice([0, 1, 987_654_321, 999_999_999]),
        size=rng.choice([0, 1, 511, 512, 70_000, 8**11 - 1, 8**11])
        if kind is EntryType.FILE
        else 0,
        link_target=rng.choice(["a", "../x/y", "/etc/" + "l" * 95, "z" * 101])
        if kind is EntryType.SYMLINK
        else "",
    )


def test_every_header_is_tarfiles_byte_for_byte() -> None:
    rng = random.Random(15)
    covered = 0
    for _ in range(3_000):
        entry = random_entry(rng)
        assert member_header(entry) == tarfile_header(entry), entry
        size = entry.size if entry.type is EntryType.FILE else 0
        kind = {EntryType.FILE: b"0", EntryType.DIRECTORY: b"5"}.get(entry.type, b"2")
        covered += fast_header(entry.path, kind, entry.mode, entry.uid, entry.gid, size,
                               entry.mtime_ns, entry.link_target) is not None  # fmt: skip
    assert covered > 500  # the fast path, not only tarfile, was compared


@pytest.mark.parametrize(
    "path",
    ["n" * 100, "d" * 99, "n" * 101, "café.conf", "caf\udce9.conf", "a\x00b"],
)
def test_names_at_and_past_ustar_are_tarfiles(path: str) -> None:
    for kind in EntryType:
        entry = FileEntry(path, kind, 0o644, 0, 0, 1_700_000_000_123_456_789, 10)
        if kind is EntryType.SYMLINK:
            entry = FileEntry(path, kind, 0o777, 0, 0, 0, 0, link_target=path)
        assert member_header(entry) == tarfile_header(entry)


def test_an_outputs_header_is_tarfiles() -> None:
    info = tarfile.TarInfo(".drtool/outputs/v4")
    info.mode, info.size, info.mtime = 0o600, 123_456, 0
    expected = info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
    assert output_header("v4", 123_456) == expected
