"""A real firewall restore beside a real dockerd, in the namespace where it runs: containers
publish ports (docker's nat and filter chains, docker0 and a br-… bridge, DOCKER-USER), a
wg-quick interface routing everything adds its own raw and mangle rules, a container started
after the backup changes docker's chains, and the host's own rules are damaged. After the
restore the host's rules are the snapshot's, docker's and wg-quick's rules are exactly as they
left them (iptables-save and nft text, order included), and the published ports still answer.

The oracles are iptables-save's and nft's own text, never drtool's parser or filter."""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from drtool.collectors.wireguard import USERSPACE
from tests.conftest import Cli, cli_environment
from tests.support.dockerd import IMAGE, Dockerd
from tests.support.live_host import WG_IFNAME
from tests.support.netns import run_in
from tests.support.services import wireguard_config, wireguard_keypair

CONFIG = """\
[backup]
kinds = ["iptables"]

[services.iptables]
health_command = "true"
"""
HOST_INPUT = [
    "-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -j ACCEPT",
    "-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT",
]
HOST_FORWARD = "-A FORWARD -s 198.51.100.0/24 -j DROP"
DOCKERS_OWN = re.compile(r"DOCKER|docker0|br-[0-9a-f]{12}")
pytestmark = pytest.mark.real_parts("dockerd", "iptables", "nft", "wireguard", "netns")
HAIRPIN = re.compile(r"^-A POSTROUTING -s (\S+)/32 -d \1/32 .*-j MASQUERADE$")
NETWORK = "drtool-published"


def saved(namespace: str) -> str:
    """iptables-save, without its comments and counters."""
    text = run_in(namespace, "iptables-save")
    lines = [re.sub(r" \[\d+:\d+\]$", "", line) for line in text.splitlines()]
    return "\n".join(line for line in lines if not line.startswith("#"))


def tables(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("*"):
            current = line[1:]
            found[current] = []
        elif line != "COMMIT":
            found[current].append(line)
    return found


def chain(text: str, table: str, name: str) -> list[str]:
    return [line for line in tables(text)[table] if line.startswith(f"-A {name} ")]


def dockers(text: str) -> dict[str, list[str]]:
    """Every line of every table that is docker's (its chains, jumps and bridges), in order."""
    return {
        table: [line for line in lines if DOCKERS_OWN.search(line)]
        for table, lines in tables(text).items()
    }


def answers(namespace: str, address: str, port: int) -> str:
    """An HTTP GET to a published port, from inside the namespace, through its firewall."""
    script = (
        "import socket,sys;s=socket.create_connection((sys.argv[1],int(sys.argv[2])),5);"
        "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n');print(s.recv(64).decode(errors='replace'))"
    )
    return run_in(namespace, "python3", "-c", script, address, str(port))


@dataclass
class Restored:
    namespace: str
    gateway: str
    snapshot: str  # iptables-save at the backup
    before: str  # just before the restore: docker changed its chains, the host's rules damaged
    after: str  # after the restore
    wg_quick_before: str  # nft's listing of wg-quick's own table, before and after
    wg_quick_after: str


@pytest.fixture(scope="module")
def restored(dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restored]:
    """The scenario, run once: dockerd's namespace gets the host's own rules and published
    ports, a backup, then docker and the host change, then a restore. Everything in the
    namespace is put back afterwards (the daemon is shared)."""
    directory = tmp_path_factory.mktemp("docker-firewall")
    namespace = dockerd.namespace
    run_in(namespace, "ip", "link", "set", "lo", "up")
    initial = run_in(namespace, "iptables-save")
    client = dockerd.client()
    (directory / "drtool.toml").write_text(CONFIG)
    (directory / "root").mkdir()
    cli = Cli(cli_environment(directory, directory / "root", directory / "drtool.toml"))
    cli.environment["DRTOOL_NETNS"] = namespace
    wireguard = directory / f"{WG_IFNAME}.conf"
    try:
        for rule in [*HOST_INPUT, HOST_FORWARD]:
            run_in(namespace, "iptables", *rule.split())
        client.networks.create(NETWORK, driver="bridge")
        publish(client, 18080)
        publish(client, 18081, network=NETWORK)
        # A wg-quick interface routing everything: wg-quick adds its own raw and mangle rules.
        (private, _), (_, peer) = wireguard_keypair(), wireguard_keypair()
        wireguard.write_text(wireguard_config(private, "10.9.0.1/24", [(peer, "0.0.0.0/0")]))
        wireguard.chmod(0o600)
        run_in(namespace, *USERSPACE, "wg-quick", "up", str(wireguard))
        docker0 = run_in(namespace, "ip", "-4", "-o", "addr", "show", "dev", "docker0")
        gateway = docker0.split(" inet ")[1].split("/")[0]
        assert answers(namespace, gateway, 18080)
        cli("init")
        cli("backup")
        snapshot = saved(namespace)
        publish(client, 18082)
        run_in(namespace, "iptables", "-D", *HOST_INPUT[1].split()[1:])
        run_in(namespace, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT")
        before = saved(namespace)
        wg_quick = ["nft", "list", "table", "ip", f"wg-quick-{WG_IFNAME}"]
        wg_quick_before = run_in(namespace, *wg_quick)
        cli("restore", "--yes", "--only", "iptables")
        after = saved(namespace)
        wg_quick_after = run_in(namespace, *wg_quick)
        yield Restored(namespace, gateway, snapshot, before, after, wg_quick_before, wg_quick_after)
    finally:
        down = ["ip", "netns", "exec", namespace, *USERSPACE, "wg-quick", "down", str(wireguard)]
        subprocess.run(down, capture_output=True, check=False)
        for container in client.containers.list(all=True, filters={"label": "drtool-test"}):
            container.remove(force=True)
        for network in client.networks.list(names=[NETWORK]):
            network.remove()
        client.close()
        run_in(namespace, "iptables-restore", input_text=initial)


def publish(client, port: int, network: str = "bridge") -> object:
    return client.containers.run(
        IMAGE,
        ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/"],
        detach=True,
        network=network,
        ports={"8080/tcp": port},
        labels={"drtool-test": "1"},
        name=f"published-{secrets.token_hex(3)}",
    )


def without_hairpins(lines: list[str]) -> list[str]:
    return [line for line in lines if not HAIRPIN.match(line)]


@pytest.mark.slow
def test_a_restore_keeps_dockers_chains_as_docker_left_them(restored: Restored) -> None:
    snapshot, before, after = restored.snapshot, restored.before, restored.after
    assert dockers(before) != dockers(snapshot), "docker changed its chains after the backup"
    assert any("br-" in line for line in dockers(before)["filter"]) and dockers(before)["nat"]
    assert chain(after, "filter", "INPUT") == chain(snapshot, "filter", "INPUT")
    assert dockers(after) == dockers(before), "docker's chains, jumps and bridges as it left them"
    forward = chain(after, "filter", "FORWARD")
    assert forward == chain(before, "filter", "FORWARD")
    assert forward.index(HOST_FORWARD) > max(i for i, r in enumerate(forward) if "DOCKER" in r)
    assert without_hairpins(tables(after)["nat"]) == without_hairpins(tables(before)["nat"])
    # wg-quick writes its rules with nft where nft is installed: a table iptables-save does not
    # show, compared as nft lists it.
    assert f"table ip wg-quick-{WG_IFNAME}" in restored.wg_quick_before
    assert "meta mark set ct mark" in restored.wg_quick_before, "with its rules"
    assert restored.wg_quick_after == restored.wg_quick_before
    for port in (18080, 18082):
        assert answers(restored.namespace, restored.gateway, port)


def test_dockers_hairpin_masquerade_rules_are_kept(restored: Restored) -> None:
    assert tables(restored.after)["nat"] == tables(restored.before)["nat"]
