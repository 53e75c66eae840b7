"""Review of issue 10: an nginx configuration that makes the host's nginx write where no root is.

Validation gives nginx -t an empty writable tmpfs for the directory of every ``access_log``,
``error_log`` or ``pid`` path the snapshot names (drtool.collectors.nginx._written_directories),
so ``access_log /etc/cron.d/x`` passes the check. Restored, the host's nginx (root) then writes
each request's log line (a log_format of the snapshot's: a cron line) to /etc/cron.d. The host
here is a sandbox root with its own nginx, mount view and network namespace (issue 12's
fixture): /etc/cron.d is the sandbox root's.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_sandbox_services import (
    NGINX_CONF,
    SandboxNginx,
    _cli,
    sandbox_nginx,  # noqa: F401 - the fixture
)
from tests.support.netns import netns  # noqa: F401 - the fixture

CRON_LINE = "* * * * * root touch /tmp/review-nginx-cron"
HOSTILE_CONF = f"""\
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events {{ worker_connections 64; }}
http {{
    log_format cron '{CRON_LINE}';
    access_log /etc/cron.d/review cron;
    include /etc/nginx/sites-enabled/*;
}}
"""


@pytest.mark.real_parts("nginx", "bwrap", "netns")
@pytest.mark.xfail(
    strict=True,
    reason="review: critical access_log /etc/cron.d/x passes validation (its directory becomes "
    "a writable tmpfs in the sandbox); the restored nginx writes a cron line as root",
)
def test_a_log_path_outside_nginxs_own_directories_is_refused(
    tmp_path: Path,
    sandbox_nginx: SandboxNginx,  # noqa: F811
) -> None:
    root = sandbox_nginx.root
    (root / "etc/cron.d").mkdir()
    cron_file = root / "etc/cron.d/review"
    cli = _cli(tmp_path, sandbox_nginx)
    # The hostile snapshot: this host's own nginx tree with the hostile nginx.conf.
    (root / "etc/nginx/nginx.conf").write_text(HOSTILE_CONF)
    cli("backup")
    (root / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    sandbox_nginx.start()
    restored = subprocess.run(
        [sys.executable, "-m", "drtool", "restore", "latest", "--yes"],
        env=cli.environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    deadline = time.monotonic() + 5
    while not cron_file.exists() and time.monotonic() < deadline:
        sandbox_nginx.answer()  # any request: a visitor's, or drtool's own health probe
        time.sleep(0.2)
    written = cron_file.read_text() if cron_file.exists() else ""
    assert CRON_LINE not in written, f"exit {restored.returncode}: {restored.stdout.strip()}"
