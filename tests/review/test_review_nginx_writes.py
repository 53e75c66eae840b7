"""Review of issue 10: an nginx configuration that makes the host's nginx write where no root is.

Validation gives nginx -t an empty writable tmpfs for the directory of every ``access_log``,
``error_log`` or ``pid`` path the snapshot names (drtool.collectors.nginx._written_directories),
so ``access_log /etc/cron.d/x`` passes the check. Restored, the host's nginx (root) then writes
each request's log line (a log_format of the snapshot's: a cron line) to /etc/cron.d. The host
here is a sandbox root with its own nginx, mount view and network namespace (issue 12's
fixture): /etc/cron.d is the sandbox root's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
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
    restored = cli.run("restore", "latest", "--yes")
    deadline = time.monotonic() + 5
    while not cron_file.exists() and time.monotonic() < deadline:
        sandbox_nginx.answer()  # any request: a visitor's, or drtool's own health probe
        time.sleep(0.2)
    written = cron_file.read_text() if cron_file.exists() else ""
    assert CRON_LINE not in written, f"exit {restored.returncode}: {restored.stdout.strip()}"


_MODULE = r"""
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
__attribute__((constructor)) static void ran(void) {
    FILE *marker = fopen(MARKER, "w");
    if (marker) { fputs("ran\n", marker); fclose(marker); }
}
typedef struct { size_t len; const char *data; } str_t;
typedef struct { str_t name; void *create_conf; void *init_conf; } core_ctx_t;
typedef struct { uintptr_t w[7]; } command_t;
typedef struct {
    uintptr_t ctx_index, index; const char *name; uintptr_t spare0, spare1, version;
    const char *signature; void *ctx; void *commands; uintptr_t type;
    void *hooks[7]; uintptr_t spare[8];
} module_t;
static core_ctx_t ctx = { { 13, "review_module" }, NULL, NULL };
static command_t commands[1] = { { { 0 } } };
module_t ngx_review_module = {
    (uintptr_t) -1, (uintptr_t) -1, NULL, 0, 0, VERSION, SIGNATURE, &ctx, commands,
    0x45524F43, { 0 }, { 0 }
};
module_t *ngx_modules[] = { &ngx_review_module, NULL };
char *ngx_module_names[] = { "ngx_review_module", NULL };
"""


def _build_module(source_directory: Path, output: Path, marker: Path) -> None:
    """A minimal core module this machine's nginx accepts (its version and signature), whose
    constructor writes ``marker``."""
    binary = Path(shutil.which("nginx") or "/usr/sbin/nginx").read_bytes()
    signature = re.search(rb"\d,\d,\d,[01]{20,}", binary).group().decode()  # type: ignore[union-attr]
    said = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=True).stderr
    major, minor, patch = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", said).groups()  # type: ignore[union-attr]
    version = int(major) * 1_000_000 + int(minor) * 1_000 + int(patch)
    source = source_directory / "module.c"
    source.write_text(_MODULE)
    subprocess.run(
        [
            *("gcc", "-shared", "-fPIC", f'-DMARKER="{marker}"', f"-DVERSION={version}"),
            *(f'-DSIGNATURE="{signature}"', "-o", str(output), str(source)),
        ],
        check=True,
        timeout=60,
    )


@pytest.mark.real_parts("nginx", "bwrap", "netns", "gcc")
def test_a_module_hidden_behind_a_hash_never_runs_on_the_host(
    tmp_path: Path,
    sandbox_nginx: SandboxNginx,  # noqa: F811
) -> None:
    root = sandbox_nginx.root
    marker = tmp_path / "module-ran-on-the-host"
    _build_module(tmp_path, root / "etc/nginx/review.so", marker)
    cli = _cli(tmp_path, sandbox_nginx)
    (root / "etc/nginx/nginx.conf").write_text(
        "env A#; load_module /etc/nginx/review.so;\n" + NGINX_CONF
    )
    cli("backup")
    (root / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    (root / "etc/nginx/review.so").unlink()
    sandbox_nginx.start()
    restored = cli.run("restore", "latest", "--yes")
    assert not marker.exists(), f"exit {restored.returncode}: {restored.stdout.strip()}"
