"""A snapshot's hooks never run unless the operator allows them (issue 10): an nginx module the
snapshot brings, a WireGuard PostUp. Restore and drill refuse in one line naming file:line,
nothing changes, and the payload's marker file is never written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli, cli_environment, tree_listing
from tests.support.real_parts import require

EVIL_MODULE = """\
#include <stdio.h>
__attribute__((constructor)) static void payload(void) {
    FILE *marker = fopen("%s", "w");
    if (marker) { fputs("ran\\n", marker); fclose(marker); }
}
"""
NGINX_CONF = """\
load_module /etc/nginx/modules/evil.so;
events { worker_connections 64; }
http { server { listen 127.0.0.1:8080; } }
"""


def _cli(tmp_path: Path, root: Path, kinds: str) -> Cli:
    config = tmp_path / "drtool.toml"
    config.write_text(f"[backup]\nkinds = [{kinds}]\n")
    cli = Cli(cli_environment(tmp_path, root, config))
    cli("init")
    cli("backup")
    return cli


@pytest.fixture
def evil_nginx(tmp_path: Path) -> tuple[Cli, Path, Path]:
    """A snapshot whose nginx.conf loads a module it brings; the module writes ``marker``."""
    marker = tmp_path / "module-ran"
    root = tmp_path / "host"
    modules = root / "etc/nginx/modules"
    modules.mkdir(parents=True)
    (root / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    require("gcc")  # a real module: its constructor would write the marker if nginx loaded it
    source = tmp_path / "evil.c"
    source.write_text(EVIL_MODULE % marker)
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(modules / "evil.so"), str(source)], check=True
    )
    return _cli(tmp_path, root, '"nginx"'), root, marker


def test_a_module_the_snapshot_brings_is_refused_by_restore(
    evil_nginx: tuple[Cli, Path, Path], netns: str
) -> None:
    cli, root, marker = evil_nginx
    (root / "etc/nginx/nginx.conf").write_text("events {}\n")  # the host moved on since
    before = tree_listing(root)
    refused = cli("--netns", netns, "restore", "latest", "--yes", expect=22)
    assert "/etc/nginx/nginx.conf:1: load_module /etc/nginx/modules/evil.so" in refused.stderr
    assert "--allow-hooks" in refused.stderr
    assert tree_listing(root) == before
    assert not marker.exists()


def test_a_module_the_snapshot_brings_fails_the_drill(evil_nginx: tuple[Cli, Path, Path]) -> None:
    cli, _, marker = evil_nginx
    drilled = cli("drill", "--json", expect=27, one_line=False)
    report = json.loads(drilled.stdout)
    assert any("load_module /etc/nginx/modules/evil.so" in p for p in report["problems"])
    assert "verified" not in report["kinds"]["nginx"]
    assert not marker.exists()


def test_an_allowed_module_still_runs_only_in_the_sandbox(
    evil_nginx: tuple[Cli, Path, Path],
) -> None:
    """--allow-hooks lets nginx -t load it, in the validator's sandbox: the machine's files
    (the marker's directory) are not in its view, so nothing lands there."""
    cli, _, marker = evil_nginx
    drilled = cli("drill", "--allow-hooks", "--json", expect=27, one_line=False)
    report = json.loads(drilled.stdout)
    assert not any("--allow-hooks" in problem for problem in report["problems"])
    assert any("nginx -t" in problem for problem in report["problems"]), report["problems"]
    assert not marker.exists()


def test_a_wireguard_postup_is_refused_and_never_runs(tmp_path: Path, netns: str) -> None:
    marker = tmp_path / "postup-ran"
    root = tmp_path / "host"
    wireguard = root / "etc/wireguard"
    wireguard.mkdir(parents=True, mode=0o700)
    private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout
    config = wireguard / "wg0.conf"
    config.write_text(
        f"[Interface]\nPrivateKey = {private.strip()}\nAddress = 10.9.0.1/24\n"
        f"  postup= touch {marker} # lower case, as wg-quick also reads it\n"
    )
    config.chmod(0o600)
    cli = _cli(tmp_path, root, '"wireguard"')
    before = tree_listing(root)
    refused = cli("--netns", netns, "restore", "latest", "--yes", expect=22)
    assert "/etc/wireguard/wg0.conf:4: postup" in refused.stderr
    assert tree_listing(root) == before
    drilled = cli("drill", "--json", expect=27, one_line=False)
    assert "/etc/wireguard/wg0.conf:4: postup" in drilled.stdout
    assert not marker.exists()


def test_the_plan_names_the_hooks_and_refuses_as_the_restore_would(
    evil_nginx: tuple[Cli, Path, Path], netns: str
) -> None:
    cli, _, marker = evil_nginx
    planned = cli("--netns", netns, "restore", "latest", "--dry-run", "--json", expect=22)
    assert planned.stdout == ""
    assert (
        "/etc/nginx/nginx.conf:1: load_module /etc/nginx/modules/evil.so "
        "(a module from outside /usr/lib/nginx/modules)"
    ) in planned.stderr
    assert len(planned.stderr.strip().splitlines()) == 1
    assert not marker.exists()
