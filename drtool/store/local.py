"""The local-directory backend: the embedded default.

Nothing below the repository's directory is followed if it is a link: a repository is written by
every host of a fleet, and a link planted in it (``objects/ab -> /etc``) must not make drtool read
or write elsewhere. Every name is resolved one component at a time without following links
(``O_NOFOLLOW``), and a link met on the way is a one-line integrity error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from drtool.errors import ConfigError, IntegrityError, ObjectExists, ObjectMissing, StorageError
from drtool.fsutil import fsync_directory, write_temporary
from drtool.store.base import ListedObject, ObjectInfo, Store, check_name


class LocalStore(Store):
    """Objects are files; every write is temp file + fsync + rename + directory fsync."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def exists(self) -> bool:
        return self.path.is_dir()

    def _path(self, name: str) -> Path:
        """The path of ``name``, once no component of it below the repository is a link."""
        path = self.path
        for segment in check_name(name).split("/"):
            path = path / segment
            if path.is_symlink():
                raise _planted_link(path.relative_to(self.path).as_posix())
        return path

    def put(self, name: str, chunks: Iterable[bytes], retain_until: datetime | None = None) -> int:
        if retain_until is not None:
            self.check_can_lock()
        target = self._path(name)
        with _storage_errors(name):
            temporary = self._write_temporary(target, chunks)
            os.replace(temporary, target)
            fsync_directory(target.parent)
            return target.stat().st_size

    def put_new(self, name: str, data: bytes) -> None:
        target = self._path(name)
        with _storage_errors(name):
            temporary = self._write_temporary(target, [data])
            try:
                # link() fails if the target exists: the atomic "create if absent" of POSIX.
                os.link(temporary, target)
            except FileExistsError:
                raise ObjectExists(f"{name} already exists in {self.location}") from None
            finally:
                os.unlink(temporary)
            fsync_directory(target.parent)

    def _write_temporary(self, target: Path, chunks: Iterable[bytes]) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return write_temporary(target, chunks)

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        with _storage_errors(name):
            descriptor = self._open_beneath(name)
        with os.fdopen(descriptor, "rb") as handle:
            yield handle

    def _open_beneath(self, name: str) -> int:
        """Open ``name`` for reading, each directory by its descriptor and nothing through a
        link; refuse what is not a regular file (a fifo would block)."""
        segments = check_name(name).split("/")
        directory = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            for index, segment in enumerate(segments):
                last = index == len(segments) - 1
                try:
                    descriptor = os.open(
                        segment,
                        flags | (os.O_NONBLOCK if last else os.O_DIRECTORY),
                        dir_fd=directory,
                    )
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise _planted_link("/".join(segments[: index + 1])) from None
                    raise
                os.close(directory)
                directory = descriptor
            if not stat.S_ISREG(os.fstat(directory).st_mode):
                raise IntegrityError(f"{name} in the repository is not a regular file")
            os.set_blocking(directory, True)
            descriptor, directory = directory, -1
            return descriptor
        finally:
            if directory >= 0:
                os.close(directory)

    def contains(self, name: str) -> bool:
        path = self._path(name)
        return path.is_file() and not path.is_symlink()

    def stat(self, name: str) -> ObjectInfo:
        with _storage_errors(name):
            status = self._path(name).lstat()
        return ObjectInfo(status.st_size, datetime.fromtimestamp(status.st_mtime, UTC))

    def check_can_lock(self) -> None:
        raise ConfigError("object lock needs an S3 repository; a local directory cannot lock")

    def extend_retention(self, name: str, retain_until: datetime) -> None:
        self.check_can_lock()

    def list(self, prefix: str) -> Iterator[str]:
        return (name for name, _ in self._walk(self._path(prefix.rstrip("/"))))

    def list_info(self, prefix: str) -> Iterator[ListedObject]:
        directory = self._path(prefix.rstrip("/")) if prefix else self.path
        for name, entry in self._walk(directory):
            try:
                status = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # deleted since the directory was read: not listed
                continue
            yield ListedObject(name, status.st_size, datetime.fromtimestamp(status.st_mtime, UTC))

    def list_folders(self, prefix: str) -> Iterator[str]:
        for entry in self._entries(self._path(prefix.rstrip("/"))):
            # An emptied directory (the local store leaves them) holds nothing, as on S3.
            if entry.is_dir(follow_symlinks=False) and next(self._walk(entry.path), None):
                yield entry.name

    def _walk(self, directory: Path | str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """Every file below ``directory`` with its entry, in the order of the full names (as S3
        lists them), holding one directory's entries per level at a time. A loop, not a
        recursion: a host can nest directories deeper than Python's stack."""
        levels = [iter(self._entries(directory))]
        while levels:
            entry = next(levels[-1], None)
            if entry is None:
                levels.pop()
            elif entry.is_dir(follow_symlinks=False):
                levels.append(iter(self._entries(entry.path)))
            elif not entry.name.startswith("."):
                yield self._relative(entry), entry

    def _entries(self, directory: Path | str) -> list[os.DirEntry[str]]:
        """The entries of ``directory`` sorted as their full names sort (a directory's name is
        followed by "/"); refuse a link among them."""
        try:
            with os.scandir(directory) as scan:
                entries = list(scan)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            if error.errno != errno.ENAMETOOLONG:
                raise
            where = Path(directory).relative_to(self.path).as_posix()
            raise IntegrityError(
                f"the repository nests directories deeper than a path can name, at {where[:64]}…"
            ) from None
        for entry in entries:
            if entry.is_symlink():
                raise _planted_link(self._relative(entry))
        return sorted(entries, key=_full_name_order)

    def _relative(self, entry: os.DirEntry[str]) -> str:
        return Path(entry.path).relative_to(self.path).as_posix()

    def clean_leftovers(self, older_than: datetime) -> int:
        removed = 0
        for directory, _, files in os.walk(self.path):  # os.walk follows no link
            for file_name in files:
                temporary = Path(directory, file_name)
                if not file_name.startswith(".tmp-") or temporary.is_symlink():
                    continue
                modified = datetime.fromtimestamp(temporary.lstat().st_mtime, UTC)
                if modified < older_than:
                    temporary.unlink(missing_ok=True)
                    removed += 1
        return removed

    def delete(self, name: str) -> None:
        with _storage_errors(name), contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()


def _full_name_order(entry: os.DirEntry[str]) -> str:
    return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name


def _planted_link(name: str) -> IntegrityError:
    return IntegrityError(
        f"the repository holds a link at {name}: drtool never follows a link in a repository "
        "(remove it)"
    )


@contextlib.contextmanager
def _storage_errors(name: str) -> Iterator[None]:
    """Map OS errors to the store's error family, with a one-line message."""
    try:
        yield
    except FileNotFoundError:
        raise ObjectMissing(f"{name} is missing from the repository") from None
    except OSError as error:
        reason = "disk full" if error.errno == errno.ENOSPC else error.strerror
        raise StorageError(f"cannot access {name} in the repository: {reason}") from None
