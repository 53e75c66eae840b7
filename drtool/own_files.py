"""drtool's own files on the restoring host: a snapshot never restores them.

drtool.toml decides what a restore accepts (``[restore] allow_hooks``, ``keep_setid``,
``include_roots``), the passphrase file and the storage credentials decide who writes the
repository. A snapshot whose ``[files]`` root holds one of them (``/etc/drtool``, say, listed by
an operator who wanted drtool's configuration back on a replacement host) would let any host of
the fleet rewrite the rules of the next restore, or take the repository. So a root that holds,
or lies in, one of these is refused before staging (drtool.roots), whoever names it.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path

# Where drtool's configuration and root's storage credentials live by default (README).
DEFAULT_OWN_ROOTS = ("etc/drtool", "root/.aws")
# Environment variables naming a file drtool reads its secrets, settings or credentials from.
_NAMING_FILES = (
    "DRTOOL_CONFIG",
    "DRTOOL_PASSWORD_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def own_files(
    host_root: Path,
    environment: Mapping[str, str],
    config_path: Path | None = None,
    password_command: str | None = None,
    repository: str | None = None,
) -> tuple[str, ...]:
    """The host-relative paths (``etc/drtool``) of drtool's own files: its configuration, the
    passphrase file, the password command's program, storage credentials and a local
    repository (DEFAULT_OWN_ROOTS besides, always). A path of this machine under
    ``host_root`` counts at its place there too."""
    named = [environment[name] for name in _NAMING_FILES if environment.get(name)]
    if config_path is not None:
        named.append(str(config_path))
    if password_command:
        words = shlex.split(password_command)
        if words and words[0].startswith("/"):
            named.append(words[0])
    location = (repository or "").removeprefix("file://")
    if location and "://" not in location:
        named.append(location)
    return tuple(sorted(set(_relative(named, host_root))))


def _relative(paths: Iterable[str], host_root: Path) -> Iterable[str]:
    root = os.path.abspath(host_root)
    for path in paths:
        absolute = os.path.abspath(path)
        for candidate in (absolute, _under(absolute, root)):
            if candidate:
                relative = posixpath.normpath(candidate).lstrip("/")
                if relative and relative != ".":
                    yield relative


def _under(path: str, root: str) -> str | None:
    """``path`` as the host at ``root`` sees it, when it lies there."""
    if root != "/" and (path == root or path.startswith(root + "/")):
        return "/" + os.path.relpath(path, root)
    return None
