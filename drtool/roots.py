"""Which roots a restore may replace: the restoring host's, never the snapshot's.

A snapshot is untrusted input (every host of a fleet can write one), so the paths a restore
replaces come from the restoring host's own configuration: each kind's roots (defaults or
drtool.toml), plus the paths the operator names (``--include-root``, ``[restore]
include_roots``) on a replacement host that has no drtool.toml yet. Some paths are never a root,
whoever names them: the system's top directories, the loader's and the authentication's files,
and any path overlapping another kind's root.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Collection, Iterable, Mapping

from drtool.archive import check_relative_path, is_under
from drtool.errors import UnsafeArchive

# Replacing one of these whole would replace the system.
SYSTEM_DIRECTORIES = frozenset(
    {"", "etc", "root", "usr", "boot", "var", "home", "proc", "sys", "dev"}
    | {"bin", "sbin", "lib", "lib32", "lib64", "run", "tmp"}
)
# What runs code or grants access as root: no restore writes there (nor replaces a parent).
GUARDED = (
    "etc/ld.so.*",
    "etc/pam.d",
    "etc/sudoers*",
    "etc/cron*",
    "root/.ssh",
    "etc/systemd",
    # drtool's own state: a snapshot must not rewrite a journal or a dead-man's switch
    "var/lib/drtool",
)


def never_a_root(root: str) -> str | None:
    """Why ``root`` (relative to the host root) may never be restored (None: it may)."""
    if root in SYSTEM_DIRECTORIES:
        return "a system directory"
    path = root
    while path:
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in GUARDED):
            return "it reaches into the loader's, authentication's or drtool's own state files"
        path = posixpath.dirname(path)
    return None


def check_roots(
    kind: str,
    roots: Iterable[str],
    allowed: Collection[str],
    other_kinds_roots: Mapping[str, Collection[str]],
    own_files: Collection[str] = (),
) -> None:
    """Refuse (UnsafeArchive) a root of ``kind`` that the restoring host does not give it
    (``allowed``), that is never a root, that holds or lies in another kind's root, or in one
    of drtool's own files (``own_files``: drtool.own_files)."""
    for root in roots:
        check_relative_path(root)
        why = never_a_root(root)
        for own in own_files:
            if why is None and (is_under(own, root) or is_under(root, own)):
                why = f"it holds drtool's own configuration or credentials (/{own})"
        for other_kind, other_roots in other_kinds_roots.items():
            for other in other_roots:
                if why is None and (is_under(other, root) or is_under(root, other)):
                    why = f"it overlaps the {other_kind} root /{other}"
        if why is None and root not in allowed:
            why = (
                "not one of this host's roots for the kind "
                "(drtool.toml, or --include-root on a replacement host)"
            )
        if why:
            raise UnsafeArchive(f"snapshot's {kind} root /{root} refused: {why}; nothing written")
