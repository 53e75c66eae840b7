"""Room on disk before a snapshot is written out: a declared size is checked against it.

A part never decompresses past its declared size, but an honest size can be huge (or a hostile
manifest can declare one): staging it, then copying it for validation, would fill the disk the
host runs on (/var, /tmp) before any error. So each place a snapshot is written out first asks
for the room its declared size needs, keeping a reserve for the host.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from drtool.errors import NoRoom

RESERVE = 64 * 1024 * 1024  # left free for the host, whatever the snapshot


def require_room(directory: Path, needed: int, what: str) -> None:
    """Raise NoRoom unless the filesystem of ``directory`` (or its nearest existing parent)
    has ``needed`` bytes free besides the reserve."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    if needed + RESERVE > usage.free:
        raise NoRoom(
            f"{what} declares {_size(needed)}, more than {existing} has free "
            f"({_size(usage.free)}, keeping {_size(RESERVE)} for the host); nothing written"
        )


def _size(count: int) -> str:
    return f"{count / 2**20:,.0f} MiB"
