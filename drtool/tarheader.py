"""The tar header blocks of the members drtool writes, built directly.

Byte for byte what Python's ``tarfile`` writes in PAX format for the same member (docs/FORMAT.md,
"Payload of an artifact part"): one ustar block, preceded by a pax header (``././@PaxHeader``,
type ``x``) holding the ``mtime`` record when the time has nanoseconds. ``tarfile`` builds each
field in Python (about 60 µs a member: most of a first backup of 20,000 files); this builds the
block with one formatting and one sum. It covers the common member only: ASCII names and link
targets within ustar's 100 bytes, ids, sizes and times within its octal fields; for anything
else it returns None and the caller asks ``tarfile``.
"""

from __future__ import annotations

import functools

_NAME = 100
_MAX_ID = 8**7  # octal digits of the uid and gid fields
_MAX_NUMBER = 8**11  # of the size and mtime fields
# magic "ustar\0" "00", uname and gname (32 each), devmajor and devminor (8 each, empty), prefix
# (155) and the block's last 12 bytes: all empty.
_TAIL = b"ustar\x0000" + bytes(32 + 32 + 8 + 8 + 155 + 12)
_CHECKSUM_AT = 148
_PAX_NAME = b"././@PaxHeader"


def _block(
    name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, kind: bytes, link: bytes
) -> bytes:
    """One ustar block; its checksum is the sum of its bytes, the checksum field as spaces."""
    block = b"%s%07o\x00%07o\x00%07o\x00%011o\x00%011o\x00        %s%s%s" % (
        name.ljust(_NAME, b"\x00"),
        mode,
        uid,
        gid,
        size,
        mtime,
        kind,
        link.ljust(_NAME, b"\x00"),
        _TAIL,
    )
    return block[:_CHECKSUM_AT] + b"%06o\x00" % sum(block) + block[_CHECKSUM_AT + 7 :]


def _pax(mtime: str) -> bytes:
    """The pax header carrying ``mtime`` (``<length> mtime=<value>\\n``), padded to blocks."""
    body = f" mtime={mtime}\n"
    length = 0
    while len(str(length)) + len(body) != length:  # the length counts its own digits
        length = len(str(length)) + len(body)
    record = f"{length}{body}".encode("ascii")
    return _pax_block(len(record)) + record + bytes(-len(record) % 512)


@functools.cache
def _pax_block(size: int) -> bytes:
    """The pax header's own block: only its size varies (a time's record: a few sizes)."""
    return _block(_PAX_NAME, 0, 0, 0, size, 0, b"x", b"")


def fast_header(
    name: str, kind: bytes, mode: int, uid: int, gid: int, size: int, mtime_ns: int, link: str
) -> bytes | None:
    """The header block(s) of a member (``kind``: b"0" file, b"5" directory, b"2" symlink;
    ``name`` without the trailing slash tarfile gives a directory), or None where only
    ``tarfile`` knows them."""
    if kind == b"5":
        name += "/"
    if not (
        len(name) <= _NAME
        and len(link) <= _NAME
        and name.isascii()
        and link.isascii()
        and 0 <= uid < _MAX_ID
        and 0 <= gid < _MAX_ID
        and 0 <= size < _MAX_NUMBER
        and 0 <= mtime_ns < _MAX_NUMBER * 1_000_000_000
    ):
        return None
    seconds, nanoseconds = divmod(mtime_ns, 1_000_000_000)
    block = _block(name.encode(), mode & 0o7777, uid, gid, size, seconds, kind, link.encode())
    if not nanoseconds:
        return block
    return _pax(f"{seconds}.{nanoseconds:09d}") + block
