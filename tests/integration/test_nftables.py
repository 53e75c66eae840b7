"""The nftables kind against the real nft inside test namespaces. The oracle is
``nft -s list ruleset`` itself, never drtool's parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.collectors.nftables import NftablesCollector
from drtool.config import ServiceSettings, Settings
from drtool.errors import ValidationRefused
from drtool.host import Host
from drtool.inspect import snapshot_contents
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from tests.support.firewall import SEED_V4
from tests.support.netns import run_in

pytestmark = pytest.mark.real_parts("nft", "netns")
DATA = Path(__file__).parent.parent / "data" / "firewall"
SETTINGS = Settings(
    kinds=("nftables",), services={"nftables": ServiceSettings(health_command="true")}
)
# What docker, fail2ban and kube-proxy write at run time, after the backup: kept by a restore.
RUNTIME = """\
table ip docker-bridges {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "br-0123456789ab" accept
	}
}
table inet f2b-table {
	set addr-set-sshd {
		type ipv4_addr
		elements = { 192.0.2.66 }
	}
	chain f2b-chain {
		type filter hook input priority filter - 1; policy accept;
		ip saddr @addr-set-sshd reject
	}
}
table ip kube-proxy {
	chain services {
	}
}
"""


def ruleset(namespace: str) -> str:
    return run_in(namespace, "nft", "-s", "list", "ruleset")


def tables(namespace: str) -> dict[str, str]:
    """Each table's text as nft prints it, by its ``table F N`` line."""
    text = "\n" + ruleset(namespace)
    blocks = text.split("\ntable ")[1:]
    return {block.split(" {", 1)[0]: "table " + block.strip() for block in blocks}


def host_in(namespace: str, tmp_path: Path) -> Host:
    return Host(tmp_path / "root", "fw-1", Runner(netns=namespace))


def test_a_native_ruleset_round_trips_and_runtime_and_iptables_tables_stay(
    repository: Repository, netns: str, tmp_path: Path
) -> None:
    run_in(netns, "nft", "-f", str(DATA / "native.nft"))
    run_in(netns, "nft", "add", "element", "inet", "filter", "banned", "{ 192.0.2.9 timeout 30m }")
    run_in(netns, "iptables-nft-restore", input_text=SEED_V4)
    before = tables(netns)
    host = host_in(netns, tmp_path)
    boot = host.path("etc/nftables.conf")  # what the boot loads: collected and restored too
    boot.parent.mkdir(parents=True)
    boot.write_bytes((DATA / "native.nft").read_bytes())
    collectors = collectors_for(SETTINGS)
    manifest = run_backup(repository, host, collectors)
    boot.write_text("flush ruleset\n")
    # iptables-nft's tables (ip filter, ip nat) belong to the iptables kind
    assert manifest.artifact("nftables").metadata["tables"] == ["inet filter", "ip host-nat"]

    run_in(netns, "nft", "-f", "-", input_text=RUNTIME)
    runtime = {key: text for key, text in tables(netns).items() if key not in before}
    assert set(runtime) == {
        "ip docker-bridges",
        "inet f2b-table",
        "ip kube-proxy",
    }
    run_in(netns, "nft", "delete", "table", "inet", "filter")
    run_in(netns, "nft", "add", "table", "inet", "intruder")
    restore_snapshot(repository, manifest, host, collectors)

    assert tables(netns) == {**before, **runtime}
    assert boot.read_bytes() == (DATA / "native.nft").read_bytes()


@pytest.mark.parametrize(
    "example", sorted(path.name for path in (DATA / "nftables-debian").glob("*.nft"))
)
def test_debians_example_rulesets_round_trip(
    repository: Repository, netns: str, tmp_path: Path, example: str
) -> None:
    if example == "sets_and_maps.nft":  # names eth0 to eth3 (no dummy module here: veths)
        for first, second in (("eth0", "eth1"), ("eth2", "eth3")):
            run_in(netns, "ip", "link", "add", first, "type", "veth", "peer", "name", second)
        run_in(netns, "nft", "add", "table", "ip", "filter")  # it begins "delete table filter"
    # all-in-one.nft includes "./inet-filter.nft"…: loaded from its own directory
    run_in(netns, "sh", "-c", f'cd "{DATA / "nftables-debian"}" && nft -f {example}')
    before = ruleset(netns)
    host = host_in(netns, tmp_path)
    collectors = collectors_for(SETTINGS)
    manifest = run_backup(repository, host, collectors)
    run_in(netns, "nft", "flush", "ruleset")
    restore_snapshot(repository, manifest, host, collectors)
    assert ruleset(netns) == before


def test_a_ruleset_nft_would_refuse_is_refused_before_anything_changes(
    repository: Repository, netns: str, tmp_path: Path
) -> None:
    class Planted(NftablesCollector):
        def collect(self, host: Host):  # type: ignore[no-untyped-def]
            artifact = super().collect(host)
            bad = b"table inet filter {\n\tchain input {\n\t\tjump nosuchchain\n\t}\n}\n"
            artifact.outputs["ruleset.nft"] = bad
            return artifact

    run_in(netns, "nft", "-f", str(DATA / "native.nft"))
    host = host_in(netns, tmp_path)
    manifest = run_backup(repository, host, [Planted()])
    run_in(netns, "nft", "delete", "table", "ip", "host-nat")
    before = ruleset(netns)
    with pytest.raises(
        ValidationRefused,
        match=r"nftables: .*:3:.* Error: Could not process rule.*\(jump nosuchchain\)",
    ):
        restore_snapshot(repository, manifest, host, collectors_for(SETTINGS))
    assert ruleset(netns) == before


def test_the_dead_mans_switch_puts_the_captured_tables_back(netns: str, tmp_path: Path) -> None:
    run_in(netns, "nft", "-f", str(DATA / "native.nft"))
    before = tables(netns)
    collector = collectors_for(SETTINGS)[0]
    artifact = collector.collect(host_in(netns, tmp_path))
    state = {
        "ruleset.nft": artifact.outputs["ruleset.nft"],
        "runtime-tables.json": b'["docker*"]',
    }
    run_in(netns, "nft", "flush", "ruleset")
    run_in(netns, "nft", "add", "table", "ip", "docker-nat")
    assert NftablesCollector.put_back(Runner(netns=netns), state) == []
    assert tables(netns) == {**before, "ip docker-nat": "table ip docker-nat {\n}"}


def test_show_describes_the_tables_and_an_empty_ruleset_as_empty(
    repository: Repository, netns: str, tmp_path: Path
) -> None:
    host = host_in(netns, tmp_path)
    collectors = collectors_for(SETTINGS)
    empty = run_backup(repository, host, collectors)
    assert empty.artifact("nftables").metadata["empty"] is True
    (shown,) = snapshot_contents(repository, empty, collectors)["artifacts"]
    assert shown["details"] == {"ruleset": "empty"}

    run_in(netns, "nft", "-f", str(DATA / "native.nft"))
    run_in(netns, "nft", "add", "table", "inet", "f2b-table")
    manifest = run_backup(repository, host, collectors)
    (shown,) = snapshot_contents(repository, manifest, collectors)["artifacts"]
    assert shown["details"]["inet filter"] == {
        "owner": "host",
        "objects": [
            "counter ssh_hits",
            "quota monthly",
            "set admins",
            "set banned",
            "map portmap",
            "chain input",
        ],
    }
    assert shown["details"]["inet f2b-table"]["owner"] == "runtime"
