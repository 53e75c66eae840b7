"""Artifact payloads as deterministic tar parts, and the safety rules for reading them back.

docs/FORMAT.md, sections "Payload of an artifact part" and "Safety rules", is the specification.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from drtool.errors import CollectError, UnsafeArchive
from drtool.hostpath import is_under
from drtool.tarheader import fast_header
from drtool.tarread import PartData

PART_TARGET_SIZE = 8 * 1024 * 1024
OUTPUT_PREFIX = ".drtool/outputs/"
_OUTPUT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_SPOOL_IN_MEMORY = 16 * 1024 * 1024
_PAX_TIME = re.compile(r"-?\d{1,12}(\.\d{1,9})?")
_MAX_MTIME_NS = 2**62  # far beyond any real time; what utime() takes everywhere
_MAX_ID = 2**32 - 2  # (uid_t)-1 means "unchanged" to chown


class EntryType(Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file, directory or link, named relative to the host root."""

    path: str
    type: EntryType
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int = 0
    link_target: str = ""
    # The lstat the walk saw (stat_key): the files cache's key, so a backup stats a file once.
    seen: StatKey | None = field(default=None, compare=False, repr=False)


StatKey = tuple[int, int, int, int, int, int, int]


def stat_key(status: os.stat_result) -> StatKey:
    """What the files cache compares: (size, mtime_ns, ctime_ns, inode, st_mode, uid, gid)."""
    return (
        status.st_size,
        status.st_mtime_ns,
        status.st_ctime_ns,
        status.st_ino,
        status.st_mode,
        status.st_uid,
        status.st_gid,
    )


_TAR_TYPES = {EntryType.FILE: b"0", EntryType.DIRECTORY: b"5", EntryType.SYMLINK: b"2"}


def check_relative_path(path: str) -> str:
    """Return ``path`` if it is relative and normalised, else raise UnsafeArchive."""
    segments = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\x00" in path
        or any(segment in ("", ".", "..") for segment in segments)
        or any(len(segment) > _SHORT_NAME and not _fits_name_max(segment) for segment in segments)
    ):
        raise UnsafeArchive(f"archive entry {path!r} is not a safe relative path; nothing written")
    return path


_SHORT_NAME = 63  # characters: at most 4 bytes each, within NAME_MAX


def _fits_name_max(segment: str) -> bool:
    """Whether ``segment`` is a file name a host can have: at most 255 bytes (NAME_MAX), as the
    tar reader's bytes. A longer one is on no host, and its install failed midway
    (ENAMETOOLONG); a lone surrogate (a record's root in JSON) is no host's name either."""
    try:
        return len(os.fsencode(segment)) <= 255
    except UnicodeEncodeError:
        return False


# -- writing -----------------------------------------------------------------------------------


def _tar_info(entry: FileEntry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.mode = entry.mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    info.mtime = entry.mtime_ns // 1_000_000_000
    if entry.mtime_ns % 1_000_000_000:
        # The time as a decimal number: before 1970, "-0.5" (divmod's "-1.500000000" is -1.5 s)
        whole, nanoseconds = divmod(abs(entry.mtime_ns), 1_000_000_000)
        sign = "-" if entry.mtime_ns < 0 else ""
        info.pax_headers = {"mtime": f"{sign}{whole}.{nanoseconds:09d}"}
    if entry.type is EntryType.FILE:
        info.type, info.size = tarfile.REGTYPE, entry.size
    elif entry.type is EntryType.DIRECTORY:
        info.type = tarfile.DIRTYPE
    else:
        info.type, info.linkname = tarfile.SYMTYPE, entry.link_target
    return info


def write_parts(
    entries: Iterable[FileEntry], root: Path, outputs: Mapping[str, bytes] | None = None
) -> Iterator[BinaryIO]:
    """Given command outputs, sorted entries and the host root they are read from, yield
    finished tar parts.

    Each part is a complete tar in a spooled temporary file, rewound, closed by the caller's
    ``with``; a new part starts once one reaches PART_TARGET_SIZE, at a file boundary. Command
    outputs come first, as members under OUTPUT_PREFIX.
    """
    part: BinaryIO | None = None
    archive: tarfile.TarFile | None = None
    items: list[FileEntry | tuple[str, bytes]] = sorted((outputs or {}).items())
    try:
        for item in [*items, *entries]:
            if archive is None:
                part = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
                archive = tarfile.open(fileobj=part, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
            if isinstance(item, FileEntry):
                _add_entry(archive, item, root)
            else:
                _add_output(archive, *item)
            if part.tell() >= PART_TARGET_SIZE:
                archive.close()
                finished, part, archive = part, None, None
                finished.seek(0)
                yield finished
        if archive is not None:
            archive.close()
            finished, part, archive = part, None, None
            finished.seek(0)
            yield finished
    finally:
        # A part not yet handed over (a file could not be read, or the caller stopped early) is
        # ours to close: up to _SPOOL_IN_MEMORY bytes per failed backup, and watch retries.
        if part is not None:
            part.close()


def _output_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(OUTPUT_PREFIX + check_output_name(name))
    info.mode, info.size, info.mtime = 0o600, size, 0
    return info


def _add_output(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    archive.addfile(_output_info(name, len(content)), io.BytesIO(content))


def member_header(entry: FileEntry) -> bytes:
    """The tar header block(s) write_parts writes for ``entry`` (format 2 cuts at them)."""
    kind = _TAR_TYPES[entry.type]
    size = entry.size if entry.type is EntryType.FILE else 0
    link = entry.link_target if entry.type is EntryType.SYMLINK else ""
    fast = fast_header(
        entry.path, kind, entry.mode, entry.uid, entry.gid, size, entry.mtime_ns, link
    )
    if fast is not None:
        return fast
    return _tar_info(entry).tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


def output_header(name: str, size: int) -> bytes:
    """The tar header block(s) write_parts writes for the command output ``name``."""
    fast = fast_header(OUTPUT_PREFIX + check_output_name(name), b"0", 0o600, 0, 0, size, 0, "")
    if fast is not None:
        return fast
    info = _output_info(name, size)
    return info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


def check_output_name(name: str) -> str:
    if not _OUTPUT_NAME.fullmatch(name):
        raise UnsafeArchive(f"command output name {name!r} is not valid; nothing written")
    return name


def _add_entry(archive: tarfile.TarFile, entry: FileEntry, root: Path) -> None:
    info = _tar_info(entry)
    if entry.type is not EntryType.FILE:
        archive.addfile(info)
        return
    source = root / entry.path
    try:
        with source.open("rb") as handle:
            archive.addfile(info, handle)
    except OSError as error:
        # tarfile reads exactly entry.size bytes: a file that shrank since it was listed ends here.
        raise CollectError(
            f"cannot read /{entry.path}: {error.strerror or error} (did it change during backup?)"
        ) from None


# -- reading -----------------------------------------------------------------------------------


_ENTRY_TYPES = {
    **dict.fromkeys(tarfile.REGULAR_TYPES, EntryType.FILE),  # a sparse one is refused first
    tarfile.DIRTYPE: EntryType.DIRECTORY,
    tarfile.SYMTYPE: EntryType.SYMLINK,
}


def entry_from_member(member: tarfile.TarInfo) -> FileEntry:
    """Return the FileEntry a tar member describes; raise UnsafeArchive for other types."""
    if member.issparse():
        # drtool never writes one; its holes would expand far past the size a manifest declares
        raise UnsafeArchive(
            f"archive entry {member.name!r} is a sparse file, which drtool never writes; "
            "nothing written"
        )
    entry_type = _ENTRY_TYPES.get(member.type)  # tarfile's isreg() and the rest, in one lookup
    if entry_type is None:
        raise UnsafeArchive(
            f"archive entry {member.name!r} is a {_type_name(member)}, which drtool never "
            "restores; nothing written"
        )
    mtime_ns = _mtime_ns(member)
    if not (0 <= member.uid <= _MAX_ID and 0 <= member.gid <= _MAX_ID):
        raise UnsafeArchive(f"archive entry {member.name!r} has an invalid owner; nothing written")
    return FileEntry(
        path=member.name,
        type=entry_type,
        mode=stat.S_IMODE(member.mode),
        uid=member.uid,
        gid=member.gid,
        mtime_ns=mtime_ns,
        size=member.size if entry_type is EntryType.FILE else 0,
        link_target=member.linkname if entry_type is EntryType.SYMLINK else "",
    )


def _mtime_ns(member: tarfile.TarInfo) -> int:
    """An entry's modification time in nanoseconds, from its pax header when it has one;
    raise UnsafeArchive for a malformed or out-of-range one."""
    text = member.pax_headers.get("mtime")
    if text is None:
        mtime_ns = int(member.mtime) * 1_000_000_000
    elif _PAX_TIME.fullmatch(text):
        seconds, _, fraction = text.partition(".")
        sign = -1 if seconds.startswith("-") else 1
        mtime_ns = int(seconds) * 1_000_000_000 + sign * int(fraction.ljust(9, "0")[:9])
    else:
        raise UnsafeArchive(
            f"archive entry {member.name!r} has a malformed modification time; nothing written"
        )
    if abs(mtime_ns) > _MAX_MTIME_NS:
        raise UnsafeArchive(
            f"archive entry {member.name!r} has an out-of-range modification time; nothing written"
        )
    return mtime_ns


def _type_name(member: tarfile.TarInfo) -> str:
    if member.islnk():
        return "hard link"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "fifo"
    return "special file"


def check_entries(entries: Iterable[FileEntry], roots: Sequence[str]) -> None:
    """Refuse, before anything is written, an entry that could land outside its roots.

    Raise UnsafeArchive naming the first offending entry.
    """
    check = EntryCheck(roots)
    for entry in entries:
        check(entry)


class EntryCheck:
    """check_entries one entry at a time, in the order they are written: what an entry is
    checked against (the links before it) is all that is kept, so entries can be checked as
    they are parsed, and again by whatever writes them."""

    def __init__(self, roots: Sequence[str]) -> None:
        for root in roots:
            check_relative_path(root)
        self._roots = roots
        self._links: set[str] = set()

    def __call__(self, entry: FileEntry) -> None:
        check_relative_path(entry.path)
        if not any(is_under(entry.path, root) for root in self._roots):
            raise UnsafeArchive(
                f"archive entry {entry.path!r} lies outside the artifact's roots; nothing written"
            )
        links, parent = self._links, entry.path
        while links and (cut := parent.rfind("/")) > 0:  # each ancestor (the path is checked)
            parent = parent[:cut]
            if parent in links:
                raise UnsafeArchive(
                    f"archive entry {entry.path!r} lies below the symlink {parent!r}; "
                    "nothing written"
                )
        if entry.type is EntryType.SYMLINK:
            _check_link_target(entry)
            links.add(entry.path)


def check_roots_are_not_links(entries: Iterable[FileEntry], roots: Sequence[str]) -> None:
    """Refuse a snapshot whose root itself is a symlink: restored, it would hand the kind's whole
    configuration to wherever it points (a world-writable directory, the machine's secrets bound
    into the validators' view). A root is restored as a directory or a file, never as a link."""
    for entry in entries:
        if entry.path in roots and entry.type is EntryType.SYMLINK:
            raise UnsafeArchive(
                f"snapshot root /{entry.path} is a symlink (to {entry.link_target[:100]!r}): a "
                "root is restored as a directory or a file, never as a link; nothing written"
            )


def _check_link_target(entry: FileEntry) -> None:
    target = entry.link_target
    if not target or "\x00" in target:
        raise UnsafeArchive(f"symlink {entry.path!r} has an invalid target; nothing written")
    if target.startswith("/"):
        return  # a host path: inside the host root by construction (docs/FORMAT.md)
    depth = len(entry.path.split("/")) - 1
    for segment in target.split("/"):
        if segment == "..":
            depth -= 1
            if depth < 0:
                raise UnsafeArchive(
                    f"symlink {entry.path!r} -> {target!r} points outside the host root; "
                    "nothing written"
                )
        elif segment not in ("", "."):
            depth += 1


def read_members(part: PartData) -> Iterator[tuple[tarfile.TarInfo, FileEntry]]:
    """Yield every member of the open tar ``part`` with its checked FileEntry, as it is read
    (the strict reader of drtool.tarread: what drtool does not write is refused)."""
    for member in part.members():
        yield member, entry_from_member(member)


def list_tree(root: Path, relative_root: str) -> tuple[list[FileEntry], list[str]]:
    """Walk ``root/relative_root`` without following links.

    Return its entries in the order of the walk (a directory, then its entries sorted by name:
    the order a reader asks, drtool.entry_tree), and the paths of the special files (sockets,
    fifos, devices) that were skipped.
    """
    entries: list[FileEntry] = []
    skipped: list[str] = []
    base = os.fspath(root)  # strings, not Paths: a host's tens of thousands of files

    def visit(relative: str) -> None:
        path = f"{base}/{relative}"
        try:
            status = os.lstat(path)
        except OSError as error:
            raise CollectError(f"cannot read /{relative}: {error.strerror}") from None
        mode = status.st_mode
        common = {
            "path": relative,
            "mode": stat.S_IMODE(mode),
            "uid": status.st_uid,
            "gid": status.st_gid,
            "mtime_ns": status.st_mtime_ns,
            "seen": stat_key(status),
        }
        if stat.S_ISREG(mode):
            entries.append(FileEntry(type=EntryType.FILE, size=status.st_size, **common))
        elif stat.S_ISLNK(mode):
            target = os.readlink(path)
            entries.append(FileEntry(type=EntryType.SYMLINK, link_target=target, **common))
        elif stat.S_ISDIR(mode):
            entries.append(FileEntry(type=EntryType.DIRECTORY, **common))
            for name in sorted(os.listdir(path)):
                visit(f"{relative}/{name}")
        else:
            skipped.append(relative)

    visit(relative_root)
    return entries, skipped
