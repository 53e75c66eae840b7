"""Validators see the whole snapshot, and nothing of the machine (issues 10 and 12): nginx -t
finds the certificate that [files] holds, in a view where the machine's own /etc, /var/log/nginx
and /var/lib/nginx are not, and binds its listen address in a namespace of its own."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from drtool.sandbox import View, sandboxed
from tests.conftest import Cli, cli_environment, tree_listing

SITE = """\
server {
    listen 203.0.113.9:443 ssl;
    ssl_certificate /etc/ssl/drtool-test/site.pem;
    ssl_certificate_key /etc/ssl/drtool-test/site.key;
    location / { return 200 "ok\\n"; }
}
"""
NGINX_CONF = """\
user www-data;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events { worker_connections 64; }
http {
    access_log /var/log/nginx/access.log;
    include /etc/nginx/sites-enabled/*;
}
"""


def write_tls_site(root: Path) -> None:
    """An nginx tree whose site's certificate and key live under /etc/ssl (held by [files])."""
    (root / "etc/nginx/sites-enabled").mkdir(parents=True)
    (root / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    (root / "etc/nginx/sites-enabled/site").write_text(SITE)
    certificates = root / "etc/ssl/drtool-test"
    certificates.mkdir(parents=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=drtool-test",
            "-days",
            "2",
            "-keyout",
            str(certificates / "site.key"),
            "-out",
            str(certificates / "site.pem"),
        ],
        check=True,
        capture_output=True,
    )
    (certificates / "site.key").chmod(0o600)


def machine_state() -> dict[str, object]:
    """What a validator must leave alone on the machine."""
    state: dict[str, object] = {}
    for path in ("/var/log/nginx", "/var/lib/nginx", "/run/nginx.pid"):
        if os.path.lexists(path):
            status = os.lstat(path)
            state[path] = (status.st_mtime_ns, status.st_mode)
            if os.path.isdir(path):
                state[f"{path}/"] = tree_listing(Path(path))
    return state


@pytest.fixture
def tls_cli(tmp_path: Path) -> Cli:
    root = tmp_path / "host"
    write_tls_site(root)
    config = tmp_path / "drtool.toml"
    config.write_text(
        '[backup]\nkinds = ["nginx", "files"]\n[files]\npaths = ["/etc/ssl/drtool-test"]\n'
    )
    cli = Cli(cli_environment(tmp_path, root, config))
    cli("init")
    cli("backup")
    return cli


def test_a_drill_validates_nginx_with_the_certificates_files_holds(tls_cli: Cli) -> None:
    assert not Path("/etc/ssl/drtool-test").exists(), "the machine must not hold the test's cert"
    before = machine_state()
    report = json.loads(tls_cli("drill", "--json").stdout)
    assert report["outcome"] == "passed", report["problems"]
    assert report["kinds"]["nginx"] == "restored and verified"
    assert machine_state() == before


def test_a_drill_does_not_see_the_machines_certificates(tmp_path: Path) -> None:
    """Without [files], the certificate is missing: the drill says so (a rebuilt host would
    fail), even if the machine had such a file."""
    root = tmp_path / "host"
    write_tls_site(root)
    config = tmp_path / "drtool.toml"
    config.write_text('[backup]\nkinds = ["nginx"]\n')
    cli = Cli(cli_environment(tmp_path, root, config))
    cli("init")
    cli("backup")
    drilled = cli("drill", "--json", expect=27, one_line=False)
    report = json.loads(drilled.stdout)
    assert any("/etc/ssl/drtool-test/site.pem" in problem for problem in report["problems"])
    assert report["kinds"].get("nginx") != "restored and verified"


@pytest.mark.real_parts("bwrap")
@pytest.mark.parametrize(
    ("target", "writing"),
    [
        ("/proc/sys/kernel/core_pattern", 'cat "$1" > /tmp/same; cat /tmp/same > "$1"'),
        ("/proc/sysrq-trigger", ': > "$1"'),  # opened for writing, nothing written
    ],
)
def test_a_checker_cannot_write_the_machines_sysctls_or_sysrq(target: str, writing: str) -> None:
    """A checker runs as uid 0 (capabilities dropped): the kernel would still let it write
    root's sysctls (``kernel.core_pattern = |program`` runs a program as root on the machine:
    measured before /proc was read-only). /proc/sysrq-trigger, a guard. The attempt writes
    back what is there: harmless either way."""
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    written = subprocess.run(
        sandboxed(["sh", "-c", writing, "sh", target], View()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert written.returncode != 0, f"{target} opened for writing from the sandbox"
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before
