"""Issue 10: what a snapshot's nginx configuration makes the host's nginx do as root, and read.

nginx's workers write what requests ask (a WebDAV ``PUT`` under ``root``, ``proxy_store``, an
``access_log`` path with a variable such as ``$arg_f``) as the ``user`` they run as. That is
the worker user (www-data), who cannot write the host's system files — unless the snapshot says
``user root`` or ``master_process off`` (one process, root, serving every request). Validation
also shows nginx -t the host's own files the configuration names outside the snapshot (a
certificate under /etc/ssl): an ``include /etc/api-token`` would put its first token into
nginx's error message (``unknown directive``). The host is a sandbox root with its own nginx,
mount view and network namespace (issue 12's fixture); each hostile snapshot is an ordinary
backup of a crafted tree.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.test_sandbox_services import (
    NGINX_CONF,
    SandboxNginx,
    _cli,
    sandbox_nginx,  # noqa: F401 - the fixture
)
from tests.support.netns import netns  # noqa: F401 - the fixture

CRON_LINE = "* * * * * root touch /tmp/hostile-nginx-cron\n"
DAV_SITE = """\
server {
    listen 127.0.0.1:8080;
    location /health { return 200 "v1\\n"; }
    location /drop/ { alias /etc/cron.d/; dav_methods PUT; }
}
"""


PUT = (
    "import urllib.request;"
    "urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8080/drop/hostile',"
    f" data={CRON_LINE.encode()!r}, method='PUT'), timeout=3)"
)


def _put(nginx: SandboxNginx) -> None:
    """A visitor's request: PUT a cron line to /drop/hostile (whatever nginx answers)."""
    subprocess.run(
        ["ip", "netns", "exec", nginx.namespace, "python3", "-c", PUT],
        capture_output=True,
        timeout=30,
    )


def _hostile_backup(tmp_path: Path, nginx: SandboxNginx, conf: str) -> tuple[Cli, str]:
    """The snapshot: this host's nginx tree with ``conf`` and the WebDAV site, backed up as
    any host holding the passphrase can; the host's own files are put back afterwards."""
    root = nginx.root
    site = root / "etc/nginx/sites-enabled/app"
    honest_site = site.read_text()
    cli = _cli(tmp_path, nginx)
    (root / "etc/nginx/nginx.conf").write_text(conf)
    site.write_text(DAV_SITE)
    cli("backup")
    (root / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    site.write_text(honest_site)
    return cli, "latest"


@pytest.mark.slow
@pytest.mark.real_parts("nginx", "bwrap", "netns")
@pytest.mark.parametrize("directive", ["user root;", "user nobody root;", "master_process off;"])
def test_nginx_never_serves_requests_as_root(
    tmp_path: Path,
    sandbox_nginx: SandboxNginx,  # noqa: F811
    directive: str,
) -> None:
    root = sandbox_nginx.root
    (root / "etc/cron.d").mkdir()
    cli, snapshot = _hostile_backup(tmp_path, sandbox_nginx, f"{directive}\n{NGINX_CONF}")
    sandbox_nginx.start()
    refused = cli("restore", snapshot, "--yes", expect=22)
    assert "nginx would run as root" in refused.stderr
    cli("drill", snapshot, expect=27)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not (root / "etc/cron.d/hostile").exists():
        _put(sandbox_nginx)
        time.sleep(0.2)
    assert list((root / "etc/cron.d").iterdir()) == []


# How the snapshot's nginx.conf reaches the host's /etc/api-token: an include of it; or an
# include of a link in the snapshot, the file itself shown to nginx -t as a certificate key.
READS = {
    "include": ("include /etc/api-token;\nhttp {", None),
    "linked": (
        "include /etc/nginx/token.conf;\nhttp {\n"
        "server { listen 127.0.0.1:8443 ssl; ssl_certificate_key /etc/api-token; }",
        "/etc/api-token",
    ),
}


@pytest.mark.real_parts("nginx", "bwrap", "netns")
@pytest.mark.parametrize("read", list(READS))
def test_a_host_file_nobody_else_may_read_never_reaches_an_error_message(
    tmp_path: Path,
    sandbox_nginx: SandboxNginx,  # noqa: F811
    read: str,
) -> None:
    root = sandbox_nginx.root
    secret = "HOSTILEten-api-token;\n"  # nginx reads it as a directive: "unknown directive"
    token = root / "etc/api-token"
    token.write_text(secret)
    token.chmod(0o600)
    http, link = READS[read]
    if link:
        (root / "etc/nginx/token.conf").symlink_to(link)
    cli, snapshot = _hostile_backup(tmp_path, sandbox_nginx, NGINX_CONF.replace("http {", http))
    for command, code in ((("restore", snapshot, "--yes"), 22), (("drill", snapshot), 27)):
        refused = cli(*command, expect=code)
        assert "/etc/api-token" in refused.stderr
        assert "HOSTILEten" not in refused.stdout + refused.stderr
    assert token.read_text() == secret


@pytest.mark.real_parts("nginx", "bwrap", "netns")
def test_a_dollar_in_a_path_nginx_never_expands_is_no_variable(
    tmp_path: Path,
    sandbox_nginx: SandboxNginx,  # noqa: F811
) -> None:
    """``pid`` takes no variable: ``$x`` is a directory name (one a temp path makes nginx
    create as root at start), and the path after it is read as the kernel reads it."""
    root = sandbox_nginx.root
    pid = "pid /var/lib/nginx/$x/../../../../etc/hostile.pid"
    conf = NGINX_CONF.replace("pid /run/nginx.pid", pid).replace(
        "http {\n", "http {\n    client_body_temp_path /var/lib/nginx/$x;\n"
    )
    cli, snapshot = _hostile_backup(tmp_path, sandbox_nginx, conf)
    sandbox_nginx.start()
    refused = cli("restore", snapshot, "--yes", expect=22)
    assert f"{pid} (nginx would write as root outside its own directories" in refused.stderr
    assert not (root / "etc/hostile.pid").exists()
