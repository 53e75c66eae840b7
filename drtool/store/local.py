"""The local-directory backend: the embedded default."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from drtool.errors import ConfigError, ObjectExists, ObjectMissing, StorageError
from drtool.fsutil import fsync_directory, write_temporary
from drtool.store.base import ObjectInfo, Store, check_name


class LocalStore(Store):
    """Objects are files; every write is temp file + fsync + rename + directory fsync."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def exists(self) -> bool:
        return self.path.is_dir()

    def _path(self, name: str) -> Path:
        return self.path / check_name(name)

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
        path = self._path(name)
        with _storage_errors(name):
            handle = path.open("rb")
        with handle:
            yield handle

    def contains(self, name: str) -> bool:
        return self._path(name).is_file()

    def stat(self, name: str) -> ObjectInfo:
        with _storage_errors(name):
            status = self._path(name).stat()
        return ObjectInfo(status.st_size, datetime.fromtimestamp(status.st_mtime, UTC))

    def check_can_lock(self) -> None:
        raise ConfigError("object lock needs an S3 repository; a local directory cannot lock")

    def extend_retention(self, name: str, retain_until: datetime) -> None:
        self.check_can_lock()

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return
        names = []
        for directory, _, files in os.walk(base):
            for file_name in files:
                if not file_name.startswith("."):
                    names.append(Path(directory, file_name).relative_to(self.path).as_posix())
        yield from sorted(names)

    def clean_leftovers(self, older_than: datetime) -> int:
        removed = 0
        for temporary in self.path.rglob(".tmp-*"):
            modified = datetime.fromtimestamp(temporary.stat().st_mtime, UTC)
            if modified < older_than:
                temporary.unlink(missing_ok=True)
                removed += 1
        return removed

    def delete(self, name: str) -> None:
        with _storage_errors(name), contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()


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
