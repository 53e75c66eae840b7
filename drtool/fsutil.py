"""Small file-system helpers: durable, atomic writes for the local store, the installer, the
restore journal and the metrics files."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


def fsync_directory(directory: Path) -> None:
    """Make a rename or create inside ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_temporary(target: Path, chunks: Iterable[bytes], mode: int = 0o600) -> Path:
    """Write ``chunks`` durably to a new temporary file beside ``target`` (``.tmp-*``, so that
    leftovers of a crash can be found); the caller renames or links it into place."""
    import tempfile  # with shutil, bz2 and lzma: loaded by the commands that write only

    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
    except BaseException:
        os.unlink(temporary)
        raise
    return Path(temporary)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, synced, renamed."""
    os.replace(write_temporary(path, [data], mode), path)
    fsync_directory(path.parent)


def open_private(path: Path, append: bool = False) -> BinaryIO:
    """Open ``path`` for writing, created 0600 whatever the umask, never through a symlink
    (drtool's own state: staged snapshots, rollback points, the journal's lock)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_APPEND if append else os.O_TRUNC
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "ab" if append else "wb")


def make_directory(path: Path, mode: int) -> Path:
    """Create ``path`` with ``mode`` whatever the umask (its missing parents 0755); an existing
    one gets ``mode`` too."""
    if not path.is_dir():
        if not path.parent.is_dir():
            make_parents(path.parent)
        path.mkdir(mode=mode, exist_ok=True)
    path.chmod(mode)
    return path


def make_parents(path: Path) -> None:
    """Create the missing directories of ``path``, 0755 whatever the umask."""
    if path.is_dir():
        return
    make_parents(path.parent)
    path.mkdir(mode=0o755, exist_ok=True)
    path.chmod(0o755)


def readable_by_anyone(path: Path, top: Path) -> bool:
    """Whether any user may read ``path`` (links followed): the file readable by others, and
    every directory from ``top`` (a host root) down to it searchable by others."""
    try:
        real, top = path.resolve(strict=True), top.resolve()
        if not os.stat(real).st_mode & 0o004:
            return False
        for directory in real.parents:
            if not os.stat(directory).st_mode & 0o001:
                return False
            if directory == top or top not in directory.parents:
                break
        return True
    except OSError:
        return False
