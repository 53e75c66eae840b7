"""A strict, fast reader of the tar parts drtool writes, and nothing else.

Python's ``tarfile`` parses each header field by field in Python and accepts a dozen formats;
a restore of 25,000 pax-headed members spent most of its time there. This reader knows one
format, the one ``archive.write_parts`` writes (docs/FORMAT.md, "Payload of an artifact part"):

- ustar headers (magic ``ustar\\0`` version ``00``, an empty prefix field), checksums as
  ``tarfile`` writes them (unsigned), numeric fields as octal digits ended by NUL;
- member types: regular file, directory, symbolic link; hard links, devices and fifos are
  parsed so that ``archive.entry_from_member`` refuses them by name, as it always did;
- pax extended headers (type ``x``) of the records drtool's writer can emit: ``mtime``,
  ``path`` and ``linkpath`` (long or non-ASCII names), ``uid``/``gid`` (ids past 2,097,151),
  ``size`` (files past 8 GiB), ``hdrcharset=BINARY`` (names that are not UTF-8), each at most
  once;
- the end: a zero block, then nothing but zeros.

Anything else (GNU or global headers, sparse files, other pax records, trailing data, a member
running past the end of the part) is refused with UnsafeArchive: nothing is guessed. Members
come back as ``tarfile.TarInfo`` (with ``offset_data``), so everything downstream is unchanged.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from drtool.errors import UnsafeArchive

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_MAGIC = b"ustar\x0000"
_PAX_RECORDS = frozenset({"path", "linkpath", "mtime", "uid", "gid", "size", "hdrcharset"})
_NO_DATA = frozenset({tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                      tarfile.BLKTYPE, tarfile.FIFOTYPE})  # fmt: skip
_MEMBER_TYPES = _NO_DATA | {tarfile.REGTYPE}
_ENCODING = "utf-8"  # names as tarfile decodes them on a UTF-8 system, bytes kept by escapes
_ERRORS = "surrogateescape"
_CHECKSUM_SPACES = 8 * ord(" ")
_WINDOW = 1024 * 1024
_PAX_NUMBER = re.compile(r"[0-9]{1,20}")  # past any id or size; int() refuses 4,301 digits
# mode, uid, gid, size, mtime as _number reads each (octal digits filling the field, then NUL),
# in one match: a header's five fields cost one call, not five.
_FIELDS = re.compile(rb"([0-9]{7})\x00([0-9]{7})\x00([0-9]{7})\x00([0-9]{11})\x00([0-9]{11})\x00")
_OCTAL = (8,) * 5
_UNUSED = bytes(500 - 345)  # the prefix field and the rest of the block: empty
# A pax header of one mtime record (what drtool writes for nearly every member), read in one
# match; anything else goes through _pax_records' general reader.
_MTIME_RECORD = re.compile(rb"([0-9]{1,20}) mtime=([^\n=]*)\n")
# The records of one pax header drtool writes fit in 17 blocks (``path`` and ``linkpath`` under
# PATH_MAX each, then ``mtime``, ``uid``, ``gid``, ``size``): a longer one is refused unread.
MAX_PAX_RECORDS = 17 * BLOCK


def _invalid(reason: str) -> UnsafeArchive:
    return UnsafeArchive(f"archive part is not a valid tar: {reason}")


def _number(field: bytes) -> int:
    """An octal field as tarfile writes it: digits, then one NUL (the checksum: NUL, space)."""
    digits = field[:-1] if field[-1] == 0 else field[:-2] if field[-2:] == b"\x00 " else b""
    if not digits.isdigit():
        raise _invalid("a numeric header field is not octal digits")
    try:
        return int(digits, 8)
    except ValueError:
        raise _invalid("a numeric header field is not octal digits") from None


def _byte_sum(header: bytes) -> int:
    """``sum(header)`` of a 512-byte block, in C: Adler-32's first sum, started at 0, is the sum
    of the bytes modulo 65,521, exact for each half (256 bytes sum to 65,280 at most)."""
    return (zlib.adler32(header[:256], 0) & 0xFFFF) + (zlib.adler32(header[256:], 0) & 0xFFFF)


def _text(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode(_ENCODING, _ERRORS)


def read_part(path: Path) -> list[tarfile.TarInfo]:
    """Every member of the tar part at ``path``, parsed strictly; raise UnsafeArchive for
    anything drtool does not write. (A restore streams its parts: PartData.members.)"""
    with opened_part(path) as part:
        return list(part.members())


class _Window:
    """Reads of a part in order, through one buffer of _WINDOW bytes: what a part's members
    cost in memory, whatever its size (a part mapped whole stayed resident: 66 MiB of a
    large host's restore)."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor
        self._start = 0
        self._buffer = b""

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (within the part, as the caller checked)."""
        start = offset - self._start
        if start < 0 or start + length > len(self._buffer):
            self._start, start = offset, 0
            self._buffer = os.pread(self._descriptor, max(length, _WINDOW), offset)
            if len(self._buffer) < length:
                raise _invalid("unexpected end of data")
        return self._buffer[start : start + length]


def _members(descriptor: int) -> Iterator[tarfile.TarInfo]:
    size = os.fstat(descriptor).st_size
    if size == 0:
        raise _invalid("empty file")
    if size % BLOCK:
        raise _invalid("its size is not a whole number of blocks")
    data = _Window(descriptor)
    offset = 0
    pax: dict[str, str] | None = None
    while True:
        if offset >= size:
            raise _invalid("unexpected end of data (no end-of-archive block)")
        header = data.read(offset, BLOCK)
        if header == _ZERO_BLOCK:
            if pax is not None:
                raise _invalid("a pax header is followed by no member")
            _check_zeros(data, offset, size)
            return
        checksum = _number(header[148:156])
        if _byte_sum(header) - sum(header[148:156]) + _CHECKSUM_SPACES != checksum:
            raise _invalid("bad checksum")
        if header[257:265] != _MAGIC or header[345:500] != _UNUSED:
            raise _invalid("not a POSIX ustar header as drtool writes it")
        kind = header[156:157]
        data_offset = offset + BLOCK
        if kind == tarfile.XHDTYPE:
            if pax is not None:
                raise _invalid("two pax headers in a row")
            length = _number(header[124:136])
            if length > MAX_PAX_RECORDS:
                raise _invalid("a pax header longer than any drtool writes")
            offset = _after(data_offset, length, size)
            pax = _pax_records(data.read(data_offset, length), header)
            continue
        member = _member(header, kind, data_offset, pax or {})
        pax = None
        if member.type in _NO_DATA and member.size:
            raise _invalid(f"entry {member.name!r} carries data its type cannot have")
        offset = _after(data_offset, member.size, size)
        yield member


def _check_zeros(data: _Window, offset: int, size: int) -> None:
    """Nothing but zeros from ``offset`` to the end, read a window at a time."""
    while offset < size:
        block = data.read(offset, min(_WINDOW, size - offset))
        if block.count(0) != len(block):
            raise _invalid("data after the end-of-archive block")
        offset += len(block)


def _after(data_offset: int, length: int, size: int) -> int:
    """Where the next header starts after ``length`` bytes of data (padded to a block)."""
    if data_offset + length > size:
        raise _invalid("unexpected end of data")
    return data_offset + -(-length // BLOCK) * BLOCK


def _member(header: bytes, kind: bytes, data_offset: int, pax: dict[str, str]) -> tarfile.TarInfo:
    name = _text(header[:100])
    if kind not in _MEMBER_TYPES:
        raise UnsafeArchive(
            f"archive entry {pax.get('path', name)!r} has tar type {kind!r}, which drtool never "
            "writes; nothing written"
        )
    fields = _FIELDS.match(header, 100, 148)
    if fields is None:
        raise _invalid("a numeric header field is not octal digits")
    member = tarfile.TarInfo(name.rstrip("/") if kind == tarfile.DIRTYPE else name)
    member.type = kind
    try:
        member.mode, member.uid, member.gid, member.size, member.mtime = map(
            int, fields.groups(), _OCTAL
        )
    except ValueError:  # an 8 or a 9
        raise _invalid("a numeric header field is not octal digits") from None
    member.linkname = _text(header[157:257])
    member.offset_data = data_offset
    if pax:
        member.pax_headers = pax
        if "path" in pax:
            member.name = pax["path"].rstrip("/")
        if "linkpath" in pax:
            member.linkname = pax["linkpath"]
        for field in ("uid", "gid", "size"):
            if field in pax:
                if not _PAX_NUMBER.fullmatch(pax[field]):  # not "²", not 5,000 digits
                    raise _invalid(f"pax record {field} is not a decimal number")
                setattr(member, field, int(pax[field]))
    return member


def _pax_records(buffer: bytes, header: bytes) -> dict[str, str]:
    """The records of a pax extended header: ``LENGTH KEYWORD=VALUE\\n`` each, nothing else."""
    single = _MTIME_RECORD.fullmatch(buffer)
    if single and int(single[1]) == len(buffer):
        return {"mtime": single[2].decode(_ENCODING, _ERRORS)}
    records: dict[str, str] = {}
    position = 0
    while position < len(buffer):
        space = buffer.find(b" ", position, position + 21)
        length_text = buffer[position:space]
        if space < 0 or not length_text.isdigit():
            raise _invalid("malformed pax record")
        end = position + int(length_text)
        record = buffer[space + 1 : end]
        if end > len(buffer) or not record.endswith(b"\n") or b"=" not in record:
            raise _invalid("malformed pax record")
        keyword_bytes, _, value = record[:-1].partition(b"=")
        keyword = keyword_bytes.decode(_ENCODING, _ERRORS)
        if keyword in records:
            raise _invalid(f"pax record {keyword} given twice")
        records[keyword] = value.decode(_ENCODING, _ERRORS)
        position = end
    if records.keys() <= _PAX_RECORDS and records.get("hdrcharset", "BINARY") == "BINARY":
        return records
    if any(keyword.startswith("GNU.sparse.") for keyword in records):
        # drtool never writes one; its holes would expand far past the size a manifest declares
        raise UnsafeArchive(
            f"archive entry {records.get('GNU.sparse.name', _text(header[:100]))!r} is a sparse "
            "file, which drtool never writes; nothing written"
        )
    unknown = sorted(set(records) - _PAX_RECORDS)
    if unknown:
        raise _invalid(f"pax record {unknown[0][:40]!r}, which drtool never writes")
    raise _invalid("pax record hdrcharset other than BINARY")


class PartData:
    """An open tar part: the data of its members, by the offsets ``read_part`` found."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor

    def members(self) -> Iterator[tarfile.TarInfo]:
        """The part's members, each parsed strictly as it is read (nothing is kept: a part of
        any size costs one window of memory); raise UnsafeArchive for anything drtool does
        not write, when the reader reaches it."""
        return _members(self._descriptor)

    def extractfile(self, member: tarfile.TarInfo) -> BinaryIO:
        """A member's data as a file (read whole for outputs and diffs)."""
        data = os.pread(self._descriptor, member.size, member.offset_data)
        if len(data) != member.size:
            raise _invalid("unexpected end of data")
        return io.BytesIO(data)

    def copy_to(self, member: tarfile.TarInfo, output: int) -> None:
        """Write a member's data to the file descriptor ``output``, in the kernel (sendfile)."""
        offset, remaining = member.offset_data, member.size
        while remaining:
            sent = os.sendfile(output, self._descriptor, offset, remaining)
            if sent == 0:
                raise _invalid("unexpected end of data")
            offset += sent
            remaining -= sent


@contextmanager
def opened_part(path: Path) -> Iterator[PartData]:
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield PartData(descriptor)
    finally:
        os.close(descriptor)
