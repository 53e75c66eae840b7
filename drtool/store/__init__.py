"""Where repository bytes live: one small interface, one backend per URL scheme."""

from __future__ import annotations

from drtool.errors import ConfigError
from drtool.store.base import Store
from drtool.store.local import LocalStore


def open_store(location: str) -> Store:
    """Given a repository location (a path or ``file://`` URL), return its store."""
    if location.startswith("file://"):
        return LocalStore(location.removeprefix("file://"))
    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise ConfigError(f"repository scheme {scheme}:// is not supported (use a local path)")
    return LocalStore(location)


__all__ = ["Store", "open_store"]
