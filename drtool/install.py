"""Putting a staged artifact onto a host root: each root built beside its place, then swapped in.

Nothing here follows a symlink when it writes, and every root is installed atomically as far as
POSIX allows: a directory is built whole next to the live one and exchanged by two renames, a
file is written to a temporary name and renamed over the old one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import posixpath
import re
import secrets
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from drtool import testpoint
from drtool.archive import (
    OUTPUT_PREFIX,
    EntryCheck,
    EntryType,
    FileEntry,
    check_output_name,
    check_relative_path,
    check_roots_are_not_links,
    is_under,
    read_members,
)
from drtool.entry_tree import TreeCheck, no_entry
from drtool.fsutil import fsync_directory
from drtool.host import Host
from drtool.snapshot import ArtifactRecord
from drtool.tarread import PartData, opened_part

SETID_BITS = stat.S_ISUID | stat.S_ISGID
# A build's or an aside's name is ".<stem>.drtool-new-<8 hex>" (or -old-): at most NAME_MAX
# (255) bytes with a stem of 234. A longer name is cut to 200 bytes and told apart by its hash.
_STEM_BYTES = 234


@dataclass(frozen=True)
class StagedArtifact:
    """An artifact decrypted and verified into private tar parts, its entries already checked.

    ``keep_setid``: whether files keep the set-uid and set-gid bits their entries record; a
    snapshot restored without ``[restore] keep_setid = true`` loses them (a snapshot is
    untrusted input, and a set-uid root file is root for whoever runs it).
    """

    record: ArtifactRecord
    part_paths: tuple[Path, ...]
    keep_setid: bool = True

    def _read(self) -> Iterator[tuple[PartData, tarfile.TarInfo, FileEntry]]:
        """Every member of every part, parsed as it is read (drtool.tarread). Nothing is kept:
        a tree of any size is read in the same memory, each pass parsing the headers again."""
        for part_path in self.part_paths:
            with opened_part(part_path) as archive:
                for member, entry in read_members(archive):
                    yield archive, member, entry

    def _members(self, outputs: bool) -> Iterator[tuple[PartData, tarfile.TarInfo, FileEntry]]:
        for archive, member, entry in self._read():
            if entry.path.startswith(OUTPUT_PREFIX) == outputs:
                entry = not_world_writable(entry)
                yield archive, member, entry if self.keep_setid else without_setid(entry)

    def members(self) -> Iterator[tuple[PartData, tarfile.TarInfo, FileEntry]]:
        """Every file entry (command outputs are not files of the host)."""
        return self._members(outputs=False)

    def outputs(self) -> dict[str, bytes]:
        """The command outputs the artifact holds (iptables-save text, network JSON, …)."""
        found = {}
        for archive, member, entry in self._members(outputs=True):
            if entry.type is EntryType.FILE:
                name = check_output_name(entry.path.removeprefix(OUTPUT_PREFIX))
                found[name] = archive.extractfile(member).read()
        return found

    def check(self, refuse_linked_roots: bool = False) -> list[str]:
        """Check everything a restore checks before it writes, in one pass over the parts (tar
        headers cost more than the data they carry): every entry (archive.EntryCheck), that
        the entries build a tree (entry_tree.TreeCheck), each output's name, and, where
        ``refuse_linked_roots``, that no root is a link (entries lie under the roots that are
        not missing: install_roots builds no other). Return the
        paths of the files whose entries carry a set-uid or set-gid bit (kept or not); raise
        UnsafeArchive."""
        for root in self.record.roots:
            check_relative_path(root)
        roots = self.installed_roots()  # an entry under a root the record calls missing: refused
        setid: list[str] = []
        check, tree = EntryCheck(roots), TreeCheck(roots)
        for _, _, entry in self._read():
            if entry.path.startswith(OUTPUT_PREFIX):
                if entry.type is EntryType.FILE:
                    check_output_name(entry.path.removeprefix(OUTPUT_PREFIX))
                continue
            if entry.mode & SETID_BITS:
                setid.append(entry.path)
            if refuse_linked_roots:
                check_roots_are_not_links((entry,), roots)
            check(entry)
            tree(entry)
        tree.finish()
        return setid

    def installed_roots(self) -> tuple[str, ...]:
        return tuple(root for root in self.record.roots if root not in self.record.missing)


def not_world_writable(entry: FileEntry) -> FileEntry:
    """``entry`` without write permission for others, always: the roots hold configuration a
    root service reads, and a world-writable directory there (as a snapshot may say) would let
    any local user add a configuration, a module, an action."""
    if entry.type is not EntryType.SYMLINK and entry.mode & stat.S_IWOTH:
        return dataclasses.replace(entry, mode=entry.mode & ~stat.S_IWOTH)
    return entry


def without_setid(entry: FileEntry) -> FileEntry:
    """``entry`` without its set-uid and set-gid bits (the sticky bit stays)."""
    if entry.mode & SETID_BITS:
        return dataclasses.replace(entry, mode=entry.mode & ~SETID_BITS)
    return entry


@contextlib.contextmanager
def materialized(staged: StagedArtifact) -> Iterator[Path]:
    """Write the artifact's files under a private (0700) directory, as if it were the host root,
    for the service's own tool to check; removed afterwards."""
    private = Path(tempfile.mkdtemp(prefix=f"drtool-{staged.record.kind}-"))
    try:
        install_roots(Host(private, "staging"), staged)
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)


def install_roots(host: Host, staged: StagedArtifact) -> None:
    """Install every root of ``staged`` under ``host.root``; on error the host is unchanged."""
    roots = staged.installed_roots()
    builds = {root: _build_path(host, root) for root in roots}
    # The parts are read again here: each entry is checked again before it is written (a part
    # changed on disk since its check is refused, its builds removed, the host unchanged).
    check = EntryCheck(roots)
    # Strings, not Paths, for the tens of thousands of entries of a large tree.
    destinations = {root: os.fspath(build) for root, build in builds.items()}
    try:
        directories: list[tuple[str, FileEntry]] = []
        for archive, member, entry in staged.members():
            check(entry)
            root = next(root for root in roots if is_under(entry.path, root))
            below = entry.path[len(root) :]  # "" for the root itself, else "/<path below it>"
            destination = destinations[root] + below
            _write_entry(archive, member, entry, destination)
            if entry.type is EntryType.DIRECTORY:
                directories.append((destination, entry))
        for root, build in builds.items():  # every root built before the first is swapped in
            if not os.path.lexists(build):
                raise no_entry(root)
        # Directory metadata last, deepest first: writing their content changed their mtimes.
        for destination, entry in reversed(directories):
            _set_metadata(destination, entry)
        # Everything built is on disk before a rename makes it live. One sync for the whole
        # build, not an fsync per file: 20,000 fsyncs made a large tree's restore 4x slower.
        os.sync()
    except BaseException:
        for build in builds.values():
            _remove(build)
        raise
    for root, build in builds.items():
        _swap_into_place(build, host.path(root))
        testpoint.reached("install:swapped")


def remove_roots(host: Host, roots: Iterable[str]) -> None:
    """Remove roots from the host (a rollback to a state where they did not exist)."""
    for root in roots:
        live = host.path(root)
        if os.path.lexists(live):
            host.checked_parent(root)
            aside = _beside(live, "old")
            os.rename(live, aside)
            fsync_directory(live.parent)
            _remove(aside)


def _build_path(host: Host, root: str) -> Path:
    parent = host.checked_parent(root)
    return _beside(parent / posixpath.basename(root), "new")


def _stem(name: str) -> str:
    """``name``, or for a name too long to have a build beside it, a shorter one (a cut and a
    hash: two long names alike for 200 bytes still get builds and asides of their own)."""
    encoded = os.fsencode(name)
    if len(encoded) <= _STEM_BYTES:
        return name
    return os.fsdecode(encoded[:200]) + "~" + hashlib.sha256(encoded).hexdigest()[:16]


def _beside(live: Path, role: str) -> Path:
    """A new name beside ``live`` for its build (``role`` "new") or its old self ("old")."""
    return live.with_name(f".{_stem(live.name)}.drtool-{role}-{secrets.token_hex(4)}")


def _write_entry(
    archive: PartData, member: tarfile.TarInfo, entry: FileEntry, destination: str
) -> None:
    if entry.type is EntryType.DIRECTORY:
        os.mkdir(destination, 0o700)
    elif entry.type is EntryType.SYMLINK:
        os.symlink(entry.link_target, destination)
        _set_metadata(destination, entry)
    else:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(destination, flags, 0o600)
        try:
            archive.copy_to(member, descriptor)
            _set_file_metadata(descriptor, entry)
        finally:
            os.close(descriptor)


def _set_metadata(path: str, entry: FileEntry) -> None:
    if os.geteuid() == 0:
        os.lchown(path, entry.uid, entry.gid)
    if entry.type is not EntryType.SYMLINK:
        os.chmod(path, entry.mode)
    os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)


def _set_file_metadata(descriptor: int, entry: FileEntry) -> None:
    """_set_metadata on the open file: no path looked up again, none swapped meanwhile."""
    if os.geteuid() == 0:
        os.chown(descriptor, entry.uid, entry.gid)
    os.chmod(descriptor, entry.mode)
    os.utime(descriptor, ns=(entry.mtime_ns, entry.mtime_ns))


def _swap_into_place(build: Path, live: Path) -> None:
    """Put ``build`` at ``live``: one rename for a file, two (old aside, new in) for a directory."""
    live_is_directory = live.is_dir() and not live.is_symlink()
    if os.path.lexists(live) and (live_is_directory or build.is_dir()):
        old = _beside(live, "old")
        os.rename(live, old)
        testpoint.reached("install:aside")
        try:
            os.rename(build, live)
        except BaseException:
            os.rename(old, live)
            raise
        _remove(old)
    else:
        os.replace(build, live)
    fsync_directory(live.parent)
    _remove_leftovers(live)


def _remove_leftovers(live: Path) -> None:
    """Builds and asides of ``live`` that a killed install left beside it: the new tree is in
    place, so they are garbage (and may hold old secrets). Matched by their exact shape, never as
    a glob: a root named ``a*`` must not take the build of a root ``ab`` for its own."""
    leftover = re.compile(re.escape(f".{_stem(live.name)}.drtool-") + "(new|old)-[0-9a-f]{8}")
    for name in os.listdir(live.parent):
        if leftover.fullmatch(name):
            _remove(live.parent / name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
