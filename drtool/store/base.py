"""The storage interface every backend implements, and the one place names are checked."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from drtool.errors import ObjectLocked, StorageError

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe store name (see docs/FORMAT.md), else raise StorageError."""
    segments = name.split("/")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise StorageError(f"invalid object name {name!r}")
    return name


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    modified: datetime
    retain_until: datetime | None = None


@dataclass(frozen=True)
class ListedObject:
    """One name of a listing with what the listing itself tells (no request per object)."""

    name: str
    size: int
    modified: datetime


class Store(ABC):
    """A flat namespace of immutable byte objects named like ``objects/ab/ab12…``.

    Writes are atomic: a reader sees a whole object or none. Backends map their own errors to
    StorageError (ObjectMissing; ObjectExists for the conditional write; ObjectLocked where a
    retention forbids a delete). ``retain_until`` asks for immutability (S3 Object Lock) until
    that time; a backend that cannot lock refuses it in ``check_can_lock``.
    """

    location: str

    @abstractmethod
    def exists(self) -> bool:
        """Whether the repository's container (directory, bucket prefix) exists at all."""

    @abstractmethod
    def put(self, name: str, chunks: Iterable[bytes], retain_until: datetime | None = None) -> int:
        """Store the concatenation of ``chunks`` under ``name``, replacing it; return its size."""

    @abstractmethod
    def put_new(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` only if the name is free, else raise ObjectExists."""

    @abstractmethod
    def open(self, name: str) -> AbstractContextManager[BinaryIO]:
        """Open ``name`` for streaming reads; raise ObjectMissing if it is not there."""

    @abstractmethod
    def contains(self, name: str) -> bool: ...

    @abstractmethod
    def stat(self, name: str) -> ObjectInfo:
        """Return the stored size (and retention) of ``name``; raise ObjectMissing if absent."""

    @abstractmethod
    def check_can_lock(self) -> None:
        """Raise ConfigError unless this store can keep objects immutable (Object Lock)."""

    @abstractmethod
    def extend_retention(self, name: str, retain_until: datetime) -> None:
        """Keep ``name`` immutable at least until ``retain_until``."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Yield every name under the directory-like ``prefix``, sorted."""

    @abstractmethod
    def list_info(self, prefix: str) -> Iterator[ListedObject]:
        """Like ``list``, with each object's size and modification time; the prefix "" lists the
        whole repository. Streamed: memory stays flat however many names there are (S3: one
        page of 1,000 at a time)."""

    @abstractmethod
    def list_folders(self, prefix: str) -> Iterator[str]:
        """Yield, sorted, the names one level below ``prefix`` that hold at least one object
        (``snapshots`` -> its hosts), whatever they hold: S3 lists them with a delimiter, one
        request per 1,000 names."""

    @abstractmethod
    def clean_leftovers(self, older_than: datetime) -> int:
        """Remove what interrupted writes left behind before ``older_than``; return how many."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove ``name`` (every version of it); raise ObjectLocked while it is retained."""

    def delete_many(self, names: Iterable[str]) -> list[str]:
        """Remove every one of ``names`` (as ``delete``); return those kept by a retention
        (Object Lock), in the order given. Backends batch the requests where they can."""
        locked = []
        for name in names:
            try:
                self.delete(name)
            except ObjectLocked:
                locked.append(name)
        return locked

    def get(self, name: str) -> bytes:
        with self.open(name) as stream:
            return stream.read()
