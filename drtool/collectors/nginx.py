"""nginx: the /etc/nginx tree (links such as sites-enabled/* stay links), checked by ``nginx -t``
as nginx will see it, reloaded, and the reload verified.

nginx reads absolute includes (``/etc/nginx/sites-enabled/*``) from the live path, so the staged
tree is checked in a private mount namespace where it is bound over that path: the live tree is
never touched, the config never rewritten. A reload that fails leaves nginx on its old config,
silently: drtool checks that the workers were replaced, that the error log has no ``[emerg]``,
and that the health URL answers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from drtool.collectors.base import Artifact, PathsCollector
from drtool.config import ServiceSettings
from drtool.errors import RestoreFailed
from drtool.host import Host
from drtool.install import StagedArtifact, materialized
from drtool.runner import CommandFailed
from drtool.services import child_pids, probe_url, read_pid, restart_command

RELOAD_TIMEOUT = 10.0
_BIND_AND_TEST = 'mount --bind "$1" "$2" && exec nginx -t -q -c "$2/nginx.conf"'


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
        if self.tool_missing("nginx"):
            return []
        (root,) = staged.installed_roots()
        live_path = Path("/", root)
        with materialized(staged) as private:
            staged_tree = private / root
            if live_path.is_dir():
                command = [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    _BIND_AND_TEST,
                    "sh",
                    str(staged_tree),
                    str(live_path),
                ]
            else:  # nothing to bind over: absolute includes would miss, relative ones work
                command = [
                    "nginx",
                    "-t",
                    "-q",
                    "-p",
                    str(staged_tree),
                    "-c",
                    str(staged_tree / "nginx.conf"),
                ]
            try:
                host.runner.run(command, label="nginx -t")
            except CommandFailed as error:
                said = error.stderr.decode(errors="replace").strip().splitlines()
                emergencies = [line for line in said if "[emerg]" in line]
                return [f"nginx -t: {(emergencies or said or [str(error)])[0]}"]
        return []

    def restart(self, host: Host, staged: StagedArtifact) -> None:
        """Reload, then insist that the reload took: new workers, no [emerg] in the error log."""
        if self.tool_missing("nginx"):
            return
        pid_file = Path(self.service.pid_file or "/run/nginx.pid")
        error_log = Path(self.service.error_log or "/var/log/nginx/error.log")
        master = read_pid(pid_file)
        workers_before = child_pids(master) if master else set()
        log_offset = error_log.stat().st_size if error_log.exists() else 0
        host.runner.run_shell(
            restart_command(host, self.service, "systemctl reload nginx", "nginx -s reload")
        )
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            emergency = _emergencies(error_log, log_offset)
            if emergency:
                raise RestoreFailed(f"nginx kept its old configuration: {emergency}")
            # A reload keeps its master, but the new configuration may name another pid file
            # for the same one (Debian's /run/nginx.pid, h5bp's /var/run/nginx.pid through
            # the /var/run link): nginx writes the new path, then deletes the old, leaving none.
            current = read_pid(pid_file) or master
            workers = child_pids(current) if current else set()
            if workers and not workers & workers_before:
                return
            time.sleep(0.1)
        raise RestoreFailed(
            f"nginx did not reload within {RELOAD_TIMEOUT:g} s (its workers were not replaced)"
        )

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        if not self.service.health_url or self.tool_missing("nginx"):
            return []
        problem = probe_url(self.service.health_url)
        return [f"nginx: {problem}"] if problem else []

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        enabled = [
            entry.path.rsplit("/", 1)[1]
            for _, _, entry in staged.members()
            if "/sites-enabled/" in entry.path
        ]
        return {"sites_enabled": enabled, "version": staged.record.metadata.get("version")}


def _emergencies(error_log: Path, offset: int) -> str | None:
    try:
        with error_log.open("rb") as handle:
            handle.seek(offset)
            fresh = handle.read().decode(errors="replace")
    except OSError:
        return None
    lines = [line for line in fresh.splitlines() if "[emerg]" in line]
    return lines[-1].split("[emerg]", 1)[1].strip() if lines else None
