"""drtool ls, dump and show as an operator runs them: the rulesets dumped are what the tools
themselves accept, files come out byte for byte, and show works whatever kinds a snapshot lacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import Artifact
from drtool.collectors.iptables import IptablesCollector
from drtool.host import Host
from drtool.repository import Repository
from drtool.runner import Runner
from drtool.store.local import LocalStore
from tests.conftest import Cli, fixed_passphrase
from tests.support.firewall import SEED_V4, SEED_V6
from tests.support.netns import network_namespace, run_in

DATA = Path(__file__).parent.parent / "data" / "firewall"


def root(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_ROOT"])


@pytest.fixture
def firewalled(cli: Cli, netns: str) -> Cli:
    """A host whose namespace holds the seed rules (iptables-nft) and a native nft ruleset."""
    run_in(netns, "iptables-nft-restore", input_text=SEED_V4)
    run_in(netns, "ip6tables-nft-restore", input_text=SEED_V6)
    run_in(netns, "nft", "-f", str(DATA / "native.nft"))
    cli.environment["DRTOOL_NETNS"] = netns
    cli("init")
    cli("backup")
    return cli


def test_dumped_rulesets_are_what_the_tools_accept_and_load_back_the_same(
    firewalled: Cli, netns: str
) -> None:
    v4 = firewalled("dump", "latest", "iptables:v4").stdout
    v6 = firewalled("dump", "latest", "iptables:v6").stdout
    ruleset = firewalled("dump", "latest", "nftables:ruleset").stdout
    with network_namespace() as fresh:
        run_in(fresh, "iptables-nft-restore", "--test", input_text=v4)
        run_in(fresh, "ip6tables-nft-restore", "--test", input_text=v6)
        run_in(fresh, "nft", "-c", "-f", "-", input_text=ruleset)
        run_in(fresh, "iptables-nft-restore", input_text=v4)
        run_in(fresh, "ip6tables-nft-restore", input_text=v6)
        run_in(fresh, "nft", "-f", "-", input_text=ruleset)
        assert run_in(fresh, "nft", "-s", "list", "ruleset") == run_in(
            netns, "nft", "-s", "list", "ruleset"
        )


def test_a_file_comes_out_byte_for_byte_and_ls_lists_files_and_outputs(firewalled: Cli) -> None:
    dumped = subprocess.run(
        [
            sys.executable,
            "-m",
            "drtool",
            "dump",
            "latest",
            "/etc/nginx/nginx.conf",
        ],
        env=firewalled.environment,
        capture_output=True,
        check=True,
    ).stdout
    assert dumped == (root(firewalled) / "etc/nginx/nginx.conf").read_bytes()
    listing = firewalled("ls", "latest").stdout
    assert "/etc/nginx/nginx.conf" in listing and "iptables:v4" in listing
    assert "nftables:ruleset" in listing
    only = json.loads(firewalled("ls", "latest", "iptables", "--json").stdout)
    assert {item["address"] for item in only} == {"iptables:v4", "iptables:v6"}
    under = json.loads(firewalled("ls", "latest", "/etc/nginx/sites-enabled", "--json").stdout)
    assert {item["address"] for item in under} == {
        "/etc/nginx/sites-enabled",
        "/etc/nginx/sites-enabled/toolboxai",
    }


@pytest.mark.parametrize("path", ["iptables:v9", "/etc/nope.conf", "/etc/nginx"])
def test_dumping_what_a_snapshot_lacks_is_one_line_and_exit_37(firewalled: Cli, path: str) -> None:
    result = firewalled("dump", "latest", path, expect=37)
    assert result.stdout == ""
    firewalled("ls", "latest", "/etc/nope", expect=37)


def test_show_works_on_a_snapshot_without_wireguard_or_fail2ban(cli: Cli) -> None:
    shutil.rmtree(root(cli) / "etc/wireguard")
    shutil.rmtree(root(cli) / "etc/fail2ban")
    cli("init")
    cli("backup")
    shown = cli("show", "latest").stdout
    assert "wireguard: absent" in shown and "fail2ban: absent" in shown
    assert "{" not in shown  # no Python repr, no JSON blob


class HostileBackend(IptablesCollector):
    """Records a backend no iptables has: a path, as a tampered snapshot might."""

    def collect(self, host: Host) -> Artifact:
        artifact = super().collect(host)
        metadata = {**artifact.metadata, "backend": "../../bin/sh", "backends": ["../../bin/sh"]}
        return Artifact(artifact.kind, (), (), metadata=metadata, outputs=artifact.outputs)


def test_a_snapshot_naming_an_unknown_backend_is_refused_in_one_line(cli: Cli, netns: str) -> None:
    run_in(netns, "iptables-nft-restore", input_text=SEED_V4)
    cli.environment["DRTOOL_NETNS"] = netns
    cli("init")
    repository = Repository.open(LocalStore(cli.environment["DRTOOL_REPO"]), fixed_passphrase())
    run_backup(repository, Host(root(cli), "web-1", Runner(netns=netns)), [HostileBackend()])
    for command in (
        ["show", "latest"],
        ["diff", "latest", "--only", "iptables"],
        ["dump", "latest", "iptables:v4"],
        ["restore", "--yes", "--only", "iptables"],
    ):
        error = cli(*command, expect=14).stderr
        assert "iptables backend must be nft or legacy" in error
