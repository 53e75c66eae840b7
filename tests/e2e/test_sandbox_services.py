"""A sandbox is a sandbox (issue 12): with --root other than / and --netns, nginx is reloaded,
started and probed inside the sandbox root's own mount view (its /etc, /run, /var) and network
namespace, with nginx's default paths; the machine's /run/nginx.pid, /var/log/nginx and
/var/lib/nginx are never read or written."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli, cli_environment
from tests.e2e.test_validators_view import machine_state
from tests.support.real_parts import require

NGINX_CONF = """\
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events { worker_connections 64; }
http {
    access_log /var/log/nginx/access.log;
    include /etc/nginx/sites-enabled/*;
}
"""
SITE = 'server {{ listen 127.0.0.1:8080; location /health {{ return 200 "{answer}\\n"; }} }}\n'
ASK = (
    "import urllib.request;"
    "print(urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=3).read().decode())"
)


@dataclass
class SandboxNginx:
    root: Path
    namespace: str

    def view(self, *argv: str) -> list[str]:
        """``argv`` in the sandbox's own view, built by the test (not by drtool)."""
        return [
            "ip", "netns", "exec", self.namespace,
            "bwrap", "--bind", "/", "/", "--dev-bind", "/dev", "/dev", "--proc", "/proc",
            "--bind", str(self.root / "etc"), "/etc",
            "--bind", str(self.root / "run"), "/run",
            "--bind", str(self.root / "var"), "/var",
            *argv,
        ]  # fmt: skip

    def start(self) -> None:
        subprocess.run(self.view("nginx"), check=True, capture_output=True, timeout=30)

    def stop(self) -> None:
        pid_file = self.root / "run/nginx.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGQUIT)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)

    def running(self) -> bool:
        pid_file = self.root / "run/nginx.pid"
        return pid_file.exists() and Path(f"/proc/{pid_file.read_text().strip()}").exists()

    def answer(self) -> str:
        completed = subprocess.run(
            ["ip", "netns", "exec", self.namespace, "python3", "-c", ASK],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return completed.stdout.strip() or f"no answer: {completed.stderr.strip()[-200:]}"

    def write_site(self, answer: str) -> None:
        (self.root / "etc/nginx/sites-enabled/app").write_text(SITE.format(answer=answer))


@pytest.fixture
def sandbox_nginx(tmp_path: Path, netns: str) -> Iterator[SandboxNginx]:
    require("bwrap", "nginx", "netns")
    root = tmp_path / "host"
    for directory in ("etc/nginx/sites-enabled", "run", "var/log/nginx", "var/lib/nginx"):
        (root / directory).mkdir(parents=True)
    (root / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    shutil.copy("/etc/nginx/mime.types", root / "etc/nginx/mime.types")
    for name in ("passwd", "group", "nsswitch.conf"):  # a sandbox root's own /etc, whole
        shutil.copy(f"/etc/{name}", root / "etc" / name)
    subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"], check=True)
    nginx = SandboxNginx(root, netns)
    nginx.write_site("v1")
    try:
        yield nginx
    finally:
        nginx.stop()


def _cli(tmp_path: Path, nginx: SandboxNginx) -> Cli:
    config = tmp_path / "drtool.toml"
    config.write_text(
        '[backup]\nkinds = ["nginx"]\n'
        '[services.nginx]\nhealth_url = "http://127.0.0.1:8080/health"\n'
    )
    cli = Cli(cli_environment(tmp_path, nginx.root, config))
    cli.environment["DRTOOL_NETNS"] = nginx.namespace
    cli("init")
    return cli


def test_a_sandbox_restore_reloads_the_sandboxs_nginx_only(
    tmp_path: Path, sandbox_nginx: SandboxNginx
) -> None:
    sandbox_nginx.start()
    cli = _cli(tmp_path, sandbox_nginx)
    cli("backup")
    sandbox_nginx.write_site("v2")
    with contextlib.suppress(Exception):
        subprocess.run(sandbox_nginx.view("nginx", "-s", "reload"), check=True, timeout=30)
    before = machine_state()
    cli("restore", "latest", "--yes")
    deadline = time.monotonic() + 10
    while sandbox_nginx.answer() != "v1" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox_nginx.answer() == "v1"
    assert machine_state() == before


def test_a_stopped_nginx_is_started_and_the_report_says_so(
    tmp_path: Path, sandbox_nginx: SandboxNginx
) -> None:
    """The 3 a.m. case: nginx is down; restoring its configuration starts it."""
    cli = _cli(tmp_path, sandbox_nginx)
    cli("backup")
    sandbox_nginx.write_site("v2")
    before = machine_state()
    restored = cli("restore", "latest", "--only", "nginx", "--yes")
    assert "nginx: down before, up after" in restored.stdout
    assert sandbox_nginx.running()
    assert sandbox_nginx.answer() == "v1"
    assert machine_state() == before


def test_a_rollback_stops_again_a_service_that_was_down(
    tmp_path: Path, sandbox_nginx: SandboxNginx
) -> None:
    cli = _cli(tmp_path, sandbox_nginx)
    cli("backup")
    sandbox_nginx.write_site("v2")
    cli.restore_killed_at("restarted nginx", "latest")
    assert sandbox_nginx.running(), "killed after it started nginx"
    rolled_back = cli("restore", "--rollback", "--yes")
    assert "rolled back and verified" in rolled_back.stdout
    assert not sandbox_nginx.running()
    assert "v2" in (sandbox_nginx.root / "etc/nginx/sites-enabled/app").read_text()


def test_a_resumed_restore_starts_a_service_that_was_down(
    tmp_path: Path, sandbox_nginx: SandboxNginx
) -> None:
    cli = _cli(tmp_path, sandbox_nginx)
    cli("backup")
    sandbox_nginx.write_site("v2")
    cli.restore_killed_at("applied nginx", "latest")
    cli("restore", "--resume", "--yes")
    assert sandbox_nginx.answer() == "v1"


def test_a_failed_start_quotes_nginxs_own_error(
    tmp_path: Path, sandbox_nginx: SandboxNginx
) -> None:
    """A crashed nginx left an empty pid file and its port taken: drtool tries to start it,
    and says nginx's own [emerg] line; the service was down before, so nothing rolls back."""
    sandbox_nginx.start()
    cli = _cli(tmp_path, sandbox_nginx)
    cli("backup")
    pid_file = sandbox_nginx.root / "run/nginx.pid"
    master = pid_file.read_text()
    pid_file.write_text("")
    try:
        restored = cli("restore", "latest", "--only", "nginx", "--yes")
    finally:
        pid_file.write_text(master)
    assert "nginx: down before, still down after" in restored.stdout
    assert "[emerg] bind() to 127.0.0.1:8080 failed" in restored.stdout
    assert "[notice]" not in restored.stdout
