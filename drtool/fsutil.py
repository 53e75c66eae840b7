"""Small file-system helpers: durable, atomic writes for the local store, the installer, the
restore journal and the metrics files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


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
