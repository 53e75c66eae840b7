"""`--host-network` on restore, as the README has it: drtool in a container with host
networking and the host's /etc mounted at --root. Its firewall is the one of the network drtool
runs in (here a namespace the test made, drtool started inside it with `ip netns exec`, no
--netns), though --root is not /. Without the flag the same restore leaves that firewall alone:
a sandbox root's firewall would be the machine's own.

The oracle is iptables-save's own text in the namespace; the files are read back as files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import Cli, cli_environment
from tests.support.netns import run_in
from tests.support.processes import processes_running

CONFIG = """\
[backup]
kinds = ["iptables", "files"]

[files]
paths = ["/etc/app.conf"]

[services.iptables]
health_command = "true"
"""
BACKED_UP = "-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -j ACCEPT"
LATER = "-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT"


def input_rules(netns: str) -> list[str]:
    return [line for line in run_in(netns, "iptables-save").splitlines() if line.startswith("-A")]


@pytest.mark.real_parts("iptables", "netns")
def test_host_network_restores_the_firewall_drtool_runs_beside(netns: str, tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    (root / "etc/app.conf").write_text("listen 443\n")
    (tmp_path / "drtool.toml").write_text(CONFIG)
    # drtool started inside the namespace, as a container on the host network runs it.
    environment = cli_environment(tmp_path, root, tmp_path / "drtool.toml")
    cli = Cli(environment, wrapper=("ip", "netns", "exec", netns))
    run_in(netns, "iptables", *BACKED_UP.split())
    cli("init")
    cli("--host-network", "backup")
    run_in(netns, "iptables", "-D", *BACKED_UP.split()[1:])
    run_in(netns, "iptables", *LATER.split())
    (root / "etc/app.conf").write_text("listen 8443\n")

    # Without --host-network: the files come back, the firewall beside drtool is left alone.
    plain = cli("restore", "--yes").stdout
    assert "restored files; skipped: iptables (live state" in plain
    assert input_rules(netns) == [LATER]
    assert (root / "etc/app.conf").read_text() == "listen 443\n"

    # With it: the namespace's firewall is the snapshot's again, confirmed by the probe.
    (root / "etc/app.conf").write_text("listen 8443\n")
    cli("--host-network", "restore", "--yes")
    assert input_rules(netns) == [BACKED_UP]
    assert (root / "etc/app.conf").read_text() == "listen 443\n"
    deadline = time.monotonic() + 10
    while processes_running("-m", "drtool.deadman", then_under=root):
        assert time.monotonic() < deadline, "the confirmed watchdog is still running"
        time.sleep(0.1)
