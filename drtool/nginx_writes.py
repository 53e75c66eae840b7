"""Where a snapshot's nginx configuration makes the host's nginx (root) write: only its own
directories.

A log line is the snapshot's to write (``log_format``), a temp file holds a request's body:
``access_log /etc/cron.d/x`` would have root's nginx write a cron job. So every log, pid, lock,
temp and cache path must lie in nginx's own directories once links are followed (a link in
the snapshot, absolute or not, is followed inside it; ``..`` after a link leaves its target);
anything else is listed as a hook. The validators' sandbox makes only those directories
writable.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path

from drtool.nginx_config import PREFIX, Directive, directives, restored_host
from drtool.staged_paths import canonical

# Directives naming a file nginx writes (its first argument) and the directories it may be in.
_LOG_DIRECTORIES = ("/var/log/nginx",)
_STATE_DIRECTORIES = ("/var/lib/nginx", "/var/cache/nginx")
_RUN_DIRECTORIES = ("/run/nginx", "/var/run/nginx")
FILE_WRITES = {
    "access_log": _LOG_DIRECTORIES,
    "error_log": _LOG_DIRECTORIES,
    "pid": _RUN_DIRECTORIES + _STATE_DIRECTORIES,
    "lock_file": _RUN_DIRECTORIES + _STATE_DIRECTORIES,
}
_RUN_FILES = ("/run/nginx.pid", "/var/run/nginx.pid", "/run/nginx.lock", "/var/run/nginx.lock")
# Directives naming a directory nginx creates and writes request bodies and responses in.
DIRECTORY_WRITES = {
    name: _STATE_DIRECTORIES
    for name in (
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
        "proxy_cache_path",
        "fastcgi_cache_path",
        "uwsgi_cache_path",
        "scgi_cache_path",
    )
}
# Log destinations that are no file nginx creates.
_NOT_FILES = ("off", "stderr", "/dev/null", "/dev/stderr", "/dev/stdout")
_NOT_FILE_PREFIXES = ("syslog:", "memory:")
NGINX_DIRECTORIES = (*_LOG_DIRECTORIES, *_STATE_DIRECTORIES)
# Where a pid or lock file of _RUN_FILES is: writable in the validators' sandbox.
RUN_DIRECTORIES = ("/run", "/var/run")


def outside_writes(
    root: Path, staged_roots: tuple[str, ...], config: str, own: tuple[str, ...] = ()
) -> list[str]:
    """Each path the configuration writes outside nginx's own directories (and ``own``: the
    directories of this host's nginx as the operator configured them), as
    ``file:line: directive path (...)``."""
    lookup = restored_host(root, staged_roots)
    found = []
    for directive, path, allowed in written_paths(root, config):
        allowed = (*allowed, *own)
        real = canonical(path, lookup)
        if real is None or not _inside(real, allowed, directive.name):
            found.append(
                f"{directive.where}: {directive.name} {directive.arguments[0]} (nginx would "
                f"write as root outside its own directories: {', '.join(allowed)})"
            )
    return found


def written_paths(root: Path, config: str) -> Iterator[tuple[Directive, str, tuple[str, ...]]]:
    """(directive, absolute path, the directories it must be in) for each path written; a
    path with a variable is cut before it (nginx opens it per request, in that directory)."""
    for directive in directives(root, config):
        allowed = FILE_WRITES.get(directive.name) or DIRECTORY_WRITES.get(directive.name)
        if allowed is None or not directive.arguments:
            continue
        argument = directive.arguments[0]
        if directive.name in ("access_log", "error_log") and (
            argument in _NOT_FILES or argument.startswith(_NOT_FILE_PREFIXES)
        ):
            continue
        path = posixpath.join(PREFIX, argument)  # a relative path starts at nginx's prefix
        if "$" in path:
            path = posixpath.join(posixpath.dirname(path.split("$", 1)[0]), "variable")
        yield directive, path, allowed


def _inside(path: str, allowed: tuple[str, ...], name: str) -> bool:
    if name in ("pid", "lock_file") and path in _RUN_FILES:
        return True
    return any(path.startswith(directory + "/") for directory in allowed)
