"""drtool.toml's [tools] timeout: a tool that runs past it fails the command in one line and
nothing is stored; raised, the same tool on the same firewall is backed up (a firewall of half a
million rules takes iptables-save a minute or more on a small machine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.firewall import SEED_V4
from tests.support.netns import run_in


@pytest.mark.real_parts("iptables", "netns")
def test_a_tool_past_the_configured_timeout_fails_the_backup_and_a_raised_one_lets_it_pass(
    cli: Cli, netns: str, tmp_path: Path
) -> None:
    run_in(netns, "iptables-nft-restore", input_text=SEED_V4)
    cli.environment["DRTOOL_NETNS"] = netns
    config = tmp_path / "drtool.toml"
    cli.environment["DRTOOL_CONFIG"] = str(config)
    config.write_text('[backup]\nkinds = ["iptables"]\n[tools]\ntimeout = 0.001\n')
    cli("init")
    failed = cli("backup", expect=20).stderr.strip()
    assert "timed out after 0.001 s" in failed and len(failed.splitlines()) == 1, failed
    assert json.loads(cli("snapshots", "--json").stdout) == []

    config.write_text('[backup]\nkinds = ["iptables"]\n[tools]\ntimeout = 600\n')
    cli("backup")
    (snapshot,) = json.loads(cli("snapshots", "--json").stdout)
    assert snapshot["kinds"] == ["iptables"]
