"""nginx for real: a server started from a sandbox root on 127.0.0.1, backed up, broken,
restored into, reloaded (and the reload verified) and asked over HTTP."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.capture import stage_artifact
from drtool.collectors import collectors_for
from drtool.config import ServiceSettings, Settings
from drtool.errors import RestoreRolledBack, RollbackIncomplete, ValidationRefused
from drtool.host import Host
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.services import read_pid
from tests.support.radosgw import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None, reason="nginx is not installed; scripts/test installs it"
)

CONFIG = """\
worker_processes 1;
pid {root}/run/nginx.pid;
error_log {root}/log/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {root}/log/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    include conf.d/*.conf;
    include sites-enabled/*;
}}
"""
SITE = """\
server {{
    listen 127.0.0.1:{port};
    location /health {{ return 200 "{answer}\\n"; }}
}}
"""


@dataclass
class Sandbox:
    root: Path
    port: int

    @property
    def conf(self) -> Path:
        return self.root / "etc/nginx/nginx.conf"

    def nginx(self, *arguments: str) -> None:
        subprocess.run(
            ["nginx", "-c", str(self.conf), *arguments], check=True, capture_output=True, timeout=30
        )

    def answer(self) -> str:
        url = f"http://127.0.0.1:{self.port}/health"
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return response.read().decode().strip()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def reload_until(self, answer: str) -> None:
        self.nginx("-s", "reload")
        deadline = time.monotonic() + 10
        while self.answer() != answer:
            assert time.monotonic() < deadline, f"nginx never answered {answer!r}"
            time.sleep(0.1)

    def write_site(self, answer: str) -> None:
        site = self.root / "etc/nginx/sites-available/app"
        site.write_text(SITE.format(port=self.port, answer=answer))

    def settings(self, restart: str | None = None) -> Settings:
        service = ServiceSettings(
            restart=restart or f"nginx -c {self.conf} -s reload",
            pid_file=str(self.root / "run/nginx.pid"),
            error_log=str(self.root / "log/error.log"),
            health_url=f"http://127.0.0.1:{self.port}/health",
        )
        return Settings(kinds=("nginx",), services={"nginx": service})


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    root = tmp_path / "host"
    for directory in (
        "etc/nginx/conf.d",
        "etc/nginx/sites-available",
        "etc/nginx/sites-enabled",
        "run",
        "log",
        "tmp",
    ):
        (root / directory).mkdir(parents=True)
    box = Sandbox(root, free_port())
    box.conf.write_text(CONFIG.format(root=root))
    (root / "etc/nginx/conf.d/limits.conf").write_text(
        "limit_req_zone $binary_remote_addr zone=api_limit:1m rate=60r/m;\n"
    )
    box.write_site("v1")
    (root / "etc/nginx/sites-enabled/app").symlink_to("../sites-available/app")
    box.nginx()
    try:
        assert box.answer() == "v1"
        yield box
    finally:
        master = read_pid(root / "run/nginx.pid")
        if master:
            subprocess.run(["kill", f"-{signal.SIGQUIT.value}", str(master)], check=False)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{master}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)


def etc_files(sandbox: Sandbox) -> dict[Path, bytes]:
    return {
        path: path.read_bytes()
        for path in sandbox.root.joinpath("etc").rglob("*")
        if path.is_file()
    }


def restore(repository: Repository, sandbox: Sandbox, manifest, restart: str | None = None):
    host = Host(sandbox.root, "web-1", services=True)
    collectors = collectors_for(sandbox.settings(restart))
    return restore_snapshot(repository, manifest, host, collectors)


def backup(repository: Repository, sandbox: Sandbox):
    return run_backup(repository, Host(sandbox.root, "web-1"), collectors_for(sandbox.settings()))


def test_restore_reloads_nginx_and_the_old_site_answers_again(
    repository: Repository, sandbox: Sandbox
) -> None:
    manifest = backup(repository, sandbox)
    sandbox.write_site("v2 (a bad edit)")
    sandbox.reload_until("v2 (a bad edit)")
    result = restore(repository, sandbox, manifest)
    assert result.restored == ["nginx"]
    assert sandbox.answer() == "v1"


@pytest.mark.parametrize(
    "breakage, message",
    [
        (
            lambda text: text.replace("worker_processes 1;", "worker_processes 1"),
            "invalid number of arguments",
        ),
        (
            lambda text: text.replace("http {", "http {\n    no_such_directive on;"),
            "unknown directive",
        ),
    ],
    ids=["missing-semicolon", "unknown-directive"],
)
def test_a_broken_config_is_refused_and_nothing_changes(
    repository: Repository, sandbox: Sandbox, breakage, message: str
) -> None:
    good = sandbox.conf.read_text()
    sandbox.conf.write_text(breakage(good))
    broken = backup(repository, sandbox)
    sandbox.conf.write_text(good)
    sandbox.write_site("v3")
    sandbox.reload_until("v3")
    before = etc_files(sandbox)
    with pytest.raises(ValidationRefused, match=message):
        restore(repository, sandbox, broken)
    after = etc_files(sandbox)
    assert after == before
    assert sandbox.answer() == "v3"


def test_a_reload_that_does_not_take_is_caught(repository: Repository, sandbox: Sandbox) -> None:
    """A restart command that does nothing: the reload is seen not to take, the rollback's
    reload neither, and the operator is told what to do."""
    manifest = backup(repository, sandbox)
    with pytest.raises(RollbackIncomplete, match="did not reload") as raised:
        restore(repository, sandbox, manifest, restart="true")
    assert "drtool restore --rollback" in raised.value.report.operator_actions[0]


def test_validation_sees_the_staged_tree_at_the_live_path(
    repository: Repository, sandbox: Sandbox, tmp_path: Path
) -> None:
    """An absolute include of /etc/nginx/... resolves into the staged tree, through a bind mount
    in a private mount namespace, and the machine's own /etc/nginx is left untouched."""
    (sandbox.root / "etc/nginx/conf.d/absolute.conf").write_text(
        "include /etc/nginx/drtool-staged-only.conf;\n"
    )
    (sandbox.root / "etc/nginx/drtool-staged-only.conf").write_text("# only in the snapshot\n")
    assert not Path("/etc/nginx/drtool-staged-only.conf").exists()
    manifest = backup(repository, sandbox)
    record = manifest.artifact("nginx")
    (collector,) = collectors_for(sandbox.settings())
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = stage_artifact(repository, record, staging)
    assert collector.validate(Host(sandbox.root, "web-1", services=True), staged) == []
    assert not Path("/etc/nginx/drtool-staged-only.conf").exists()


def test_a_failing_health_check_rolls_the_files_and_nginx_back(
    repository: Repository, sandbox: Sandbox
) -> None:
    """The snapshot's site answers 503: the restore applies it, reloads, sees the health check
    fail, and puts the previous files back, reloads again, and checks again."""
    sandbox.write_site("broken")
    site = sandbox.root / "etc/nginx/sites-available/app"
    site.write_text(site.read_text().replace("return 200", "return 503"))
    broken = backup(repository, sandbox)
    sandbox.write_site("v4")
    sandbox.reload_until("v4")
    before = etc_files(sandbox)
    with pytest.raises(RestoreRolledBack, match="HTTP 503") as raised:
        restore(repository, sandbox, broken)
    assert raised.value.report.rolled_back == ["nginx"]
    after = etc_files(sandbox)
    assert after == before
    assert sandbox.answer() == "v4"
