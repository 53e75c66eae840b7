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

import grp
import posixpath
import pwd
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
    """(directive, absolute path, the directories it must be in) for each path written; an
    ``access_log`` path with a variable is cut before it (a worker opens it per request, as
    the worker user: root_workers). No other of these paths takes a variable: a ``$`` there
    is a character of a directory's name."""
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
        if "$" in path and directive.name == "access_log":  # the only one nginx expands
            path = posixpath.join(posixpath.dirname(path.split("$", 1)[0]), "variable")
        yield directive, path, allowed


def _inside(path: str, allowed: tuple[str, ...], name: str) -> bool:
    if name in ("pid", "lock_file") and path in _RUN_FILES:
        return True
    return any(path.startswith(directory + "/") for directory in allowed)


def root_workers(root: Path, config: str) -> list[str]:
    """Where the configuration has nginx serve requests as root: ``user`` naming root (or its
    group), or ``master_process off`` (one process, the root master, serving every request).
    A worker writes what a request asks — a WebDAV ``PUT`` under ``root``, ``proxy_store``, an
    ``access_log`` path with a variable (``$arg_f`` may hold ``../``) — as the worker user,
    who cannot write the host's system files: unless that user is root."""
    found = []
    for directive in directives(root, config):
        arguments = directive.arguments
        if directive.name == "master_process" and arguments[:1] and arguments[0].lower() == "off":
            found.append(f"{directive.where}: master_process {arguments[0]} ({_AS_ROOT})")
        elif directive.name == "user" and arguments:
            # nginx: "if group is omitted, a group whose name equals that of user is used"
            user, group = arguments[0], arguments[1] if len(arguments) > 1 else arguments[0]
            if _is_root(user, pwd.getpwnam, "pw_uid") or _is_root(group, grp.getgrnam, "gr_gid"):
                found.append(f"{directive.where}: user {' '.join(arguments)} ({_AS_ROOT})")
    return found


_AS_ROOT = (
    "nginx would run as root what requests ask: WebDAV PUT, proxy_store, a log path with a "
    "variable would write anywhere"
)


def _is_root(name: str, lookup: Callable[[str], Any], field: str) -> bool:
    """Whether ``name`` is root's user or group on this host (or is spelled ``root``)."""
    if name == "root":
        return True
    try:
        return getattr(lookup(name), field) == 0
    except KeyError:
        return False  # nginx refuses an unknown user at start: validation says so
