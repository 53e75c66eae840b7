"""Host names: the one rule every name a host is known by follows (snapshots/<host>/…, writer
credentials, the seen state), apart from drtool.host so that checking a name loads no runner."""

from __future__ import annotations

import re

from drtool.errors import ConfigError

_HOST_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,252}")


def check_host_name(name: str) -> str:
    if not _HOST_NAME.fullmatch(name):
        raise ConfigError(f"host name {name!r} is not valid (letters, digits, '.', '_', '-')")
    return name


def default_host_name() -> str:
    import socket

    return socket.gethostname().split(".")[0] or "localhost"
