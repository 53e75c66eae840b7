"""nginx: the /etc/nginx tree (links such as sites-enabled/* stay links), checked by ``nginx -t``
as nginx will see it, reloaded, and the reload verified.

nginx reads absolute includes (``/etc/nginx/sites-enabled/*``) from the live path, so the staged
tree is checked in a private mount namespace where it is bound over that path: the live tree is
never touched, the config never rewritten. A reload that fails leaves nginx on its old config,
silently: drtool checks that the workers were replaced, that the error log has no ``[emerg]``,
and that the health URL answers.
"""

from __future__ import annotations

import posixpath
import shutil
import time
from pathlib import Path
from typing import Any

from drtool import nginx_config
from drtool.collectors.base import Artifact, PathsCollector
from drtool.config import ServiceSettings
from drtool.errors import RestoreFailed
from drtool.fsutil import readable_by_anyone
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.nginx_config import NginxConfigError
from drtool.nginx_writes import (
    DIRECTORY_WRITES,
    NGINX_DIRECTORIES,
    RUN_DIRECTORIES,
    outside_writes,
    root_workers,
    written_paths,
)
from drtool.runner import CommandFailed, tool_error_line
from drtool.sandbox import sandboxed
from drtool.services import (
    child_pids,
    probe_url_from,
    process_alive,
    read_pid,
    restart_command,
    start_command,
    stop_command,
)
from drtool.validation import StagedTree, staged_tree

# nginx -t as root in its sandbox: it creates its temp directories and chowns them to its
# worker user, reads files owned by others, binds its listen ports (in a fresh namespace).
_CAPABILITIES = ("CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_NET_BIND_SERVICE")
# Where nginx writes, beside what its configuration names (Debian's built-in paths).
_DEFAULT_WRITES = ("/var/log/nginx", "/var/lib/nginx")


class NginxCollector(PathsCollector):
    def __init__(self, path: str = "/etc/nginx", service: ServiceSettings | None = None) -> None:
        super().__init__("nginx", (path,))
        self.service = service or ServiceSettings()

    def collect(self, host: Host) -> Artifact:
        artifact = super().collect(host)
        try:
            version = host.runner.run_shell("nginx -v 2>&1", label="nginx -v")
        except CommandFailed:
            return artifact
        metadata = {**artifact.metadata, "version": version.decode().strip() or None}
        return Artifact(artifact.kind, artifact.roots, artifact.entries, artifact.missing, metadata)

    def validate(self, host: Host, staged: StagedArtifact) -> list[str]:
        with staged_tree([staged]) as tree:
            return self.validate_in(host, staged, tree)

    def validate_in(self, host: Host, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        """``nginx -t`` in a sandbox that shows the whole snapshot at its live paths."""
        if self.tool_missing("nginx"):
            return []
        config = _main_config(staged)
        try:
            writable = _written_directories(tree, config, self._own_directories())
            findings, binds = _outside_dependencies(host, tree, config)
            private = [] if tree.rebuilt_host else _private_includes(host, tree, config)
        except (NginxConfigError, OSError) as error:
            return [f"nginx: {error}"]
        if private:
            return [*findings, *private]  # nginx -t never reads them: it would quote them
        view = tree.view.with_tool(binds=binds, writable=writable, capabilities=_CAPABILITIES)
        try:
            host.runner.run(sandboxed(["nginx", "-t", "-q", "-c", config], view), label="nginx -t")
        except CommandFailed as error:
            findings.append(f"nginx -t: {tool_error_line(error, ('[emerg]', '[alert]', '[crit]'))}")
        return findings

    def hooks(self, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        try:
            config = _main_config(staged)
            return [
                *nginx_config.hooks(tree.root, tree.roots, config),
                *outside_writes(tree.root, tree.roots, config, self._own_directories()),
                *root_workers(tree.root, config),
            ]
        except (NginxConfigError, OSError):
            return []  # validate_in refuses what cannot be read

    def restart(self, host: Host, staged: StagedArtifact) -> None:
        """Reload (or start, if nginx is not running), then insist that it took: new workers,
        no [emerg] in the error log."""
        if self.tool_missing("nginx"):
            return
        pid_file, error_log = self._pid_file(host), self._error_log(host)
        master = read_pid(pid_file)
        running = process_alive(master)
        workers_before = child_pids(master) if running and master else set()
        log_offset = error_log.stat().st_size if error_log.exists() else 0
        command = (
            restart_command(host, self.service, "systemctl reload nginx", "nginx -s reload")
            if running
            else start_command(host, self.service, "nginx", "nginx")
        )
        host.runner.run_shell(command, in_netns=True)
        timeout = self.service.timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            emergency = _emergencies(error_log, log_offset)
            if emergency:
                raise RestoreFailed(f"nginx kept its old configuration: {emergency}")
            # A reload keeps its master, but the new configuration may name another pid file
            # for the same one (Debian's /run/nginx.pid, h5bp's /var/run/nginx.pid through
            # the /var/run link): nginx writes the new path, then deletes the old, leaving none.
            current = read_pid(pid_file) or master
            workers = child_pids(current) if current and process_alive(current) else set()
            if workers and not workers & workers_before:
                return
            time.sleep(0.1)
        raise RestoreFailed(
            f"nginx did not reload within {timeout:g} s (its workers were not replaced)"
        )

    def running(self, host: Host) -> bool | None:
        if shutil.which("nginx") is None:
            return None
        return process_alive(read_pid(self._pid_file(host)))

    def stop(self, host: Host) -> None:
        if self.tool_missing("nginx") or not self.running(host):
            return
        host.runner.run_shell(
            stop_command(host, self.service, "nginx", "nginx -s quit"), in_netns=True
        )

    def _own_directories(self) -> tuple[str, ...]:
        """The directories of this host's nginx as drtool.toml names them (its pid file's and
        error log's): the operator's word, nginx's own like /var/log/nginx."""
        return tuple(
            posixpath.dirname(posixpath.normpath(path))
            for path in (self.service.pid_file, self.service.error_log)
            if path and path.startswith("/")
        )

    def _pid_file(self, host: Host) -> Path:
        return host.view_path(self.service.pid_file or "/run/nginx.pid")

    def _error_log(self, host: Host) -> Path:
        return host.view_path(self.service.error_log or "/var/log/nginx/error.log")

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        if not self.service.health_url or self.tool_missing("nginx"):
            return []
        problem = probe_url_from(host, self.service.health_url, self.service.timeout)
        return [f"nginx: {problem}"] if problem else []

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        enabled = [
            entry.path.rsplit("/", 1)[1]
            for _, _, entry in staged.members()
            if "/sites-enabled/" in entry.path
        ]
        return {"sites_enabled": enabled, "version": staged.record.metadata.get("version")}


def _main_config(staged: StagedArtifact) -> str:
    (root,) = staged.installed_roots()
    return f"/{root}/nginx.conf"


def _outside_dependencies(
    host: Host, tree: StagedTree, config: str
) -> tuple[list[str], list[tuple[Path, str]]]:
    """The files the configuration reads that the snapshot does not hold (certificates under
    /etc/ssl, say). For a drill, each is a finding: a rebuilt host would lack it. For a
    restore, the host's own copy stays where it is: shown to nginx -t as it is (read-only),
    but an included file only when anyone may read it: nginx quotes what it cannot parse
    (``unknown directive "<the file's first word>"``), so ``include /etc/api-token`` would
    print a secret of this host's."""
    findings: list[str] = []
    binds: list[tuple[Path, str]] = []
    for directive, path in nginx_config.dependencies(tree.root, config):
        if tree.view.shows(path) or path.startswith("/usr/"):
            continue
        if tree.rebuilt_host:
            findings.append(
                f"nginx: {directive.where}: {path} is not in the snapshot "
                f'(add it to drtool.toml: [files] paths = ["{path}"])'
            )
        elif host.path(path.lstrip("/")).exists():
            if directive.name == "include" and not readable_by_anyone(
                host.path(path.lstrip("/")), host.root
            ):
                continue  # _private_includes: nginx -t does not run
            binds.append((host.path(path.lstrip("/")), path))
    return findings, binds


def _private_includes(host: Host, tree: StagedTree, config: str) -> list[str]:
    """Each include that reads a file of this host's outside the snapshot (named, or through
    a link of the snapshot's, or a glob's) that not everyone may read: nginx -t would quote
    its first word (``unknown directive "..."``) in the refusal."""
    return [
        f"nginx: {directive.where}: include {path}: not in the snapshot, and on this host not "
        "everyone may read it (nginx -t would quote it in its messages)"
        for directive, path in nginx_config.included_paths(tree.root, config)
        if not tree.view.shows(path)
        and host.path(path.lstrip("/")).exists()
        and not readable_by_anyone(host.path(path.lstrip("/")), host.root)
    ]


def _written_directories(tree: StagedTree, config: str, own: tuple[str, ...]) -> list[str]:
    """The directories nginx -t writes in (logs, temp and cache paths), each an empty tmpfs in
    the sandbox: only those inside nginx's own directories (a path elsewhere is a hook, and
    stays unwritable even when the operator allows hooks)."""
    directories = set(_DEFAULT_WRITES)
    allowed_directories = (*NGINX_DIRECTORIES, *own)
    for directive, path, _ in written_paths(tree.root, config):
        path = posixpath.normpath(path)
        directories.add(path if directive.name in DIRECTORY_WRITES else posixpath.dirname(path))
    return sorted(
        directory
        for directory in directories
        if (
            directory in RUN_DIRECTORIES
            or any(
                directory == allowed or directory.startswith(allowed + "/")
                for allowed in allowed_directories
            )
        )
        and not tree.view.shows(directory)
    )


def _emergencies(error_log: Path, offset: int) -> str | None:
    try:
        with error_log.open("rb") as handle:
            handle.seek(offset)
            fresh = handle.read().decode(errors="replace")
    except OSError:
        return None
    lines = [line for line in fresh.splitlines() if "[emerg]" in line]
    return lines[-1].split("[emerg]", 1)[1].strip() if lines else None
