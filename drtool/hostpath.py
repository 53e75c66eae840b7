"""Host paths as strings: ``/etc/nginx`` as the relative ``etc/nginx`` drtool stores, and
whether one relative path lies under another. No file system, no runner: drtool.toml's parser
and the log scrubber use them before anything else is loaded."""

from __future__ import annotations

import posixpath

from drtool.errors import ConfigError


def relative_host_path(host_path: str) -> str:
    """Given an absolute host path such as ``/etc/nginx``, return ``etc/nginx``."""
    if not host_path.startswith("/"):
        raise ConfigError(f"path {host_path!r} must be absolute")
    normalised = posixpath.normpath(host_path).lstrip("/")
    if not normalised or normalised == "." or ".." in normalised.split("/"):
        raise ConfigError(f"path {host_path!r} is not a usable host path")
    return normalised


def is_under(path: str, root: str) -> bool:
    """Whether the relative ``path`` is ``root`` or lies below it."""
    return path == root or path.startswith(root + "/")
