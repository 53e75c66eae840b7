"""Where repository bytes live: one small interface, one backend per URL scheme."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drtool.errors import ConfigError
from drtool.store.base import Store
from drtool.store.local import LocalStore


def open_store(location: str, s3_settings: Mapping[str, Any] | None = None) -> Store:
    """Given a repository location (a path, ``file://`` or ``s3://`` URL), return its store.

    ``s3_settings`` are S3Options fields (drtool.toml's [s3] and the S3 command-line options).
    """
    if location.startswith("s3://"):
        # boto3 takes a third of a second to import: only S3 repositories pay for it.
        from drtool.store.s3 import S3Options, S3Store

        return S3Store(location, S3Options(**(s3_settings or {})))
    if location.startswith("file://"):
        return LocalStore(location.removeprefix("file://"))
    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise ConfigError(f"repository scheme {scheme}:// is not supported (use a path or s3://)")
    return LocalStore(location)


__all__ = ["Store", "open_store"]
