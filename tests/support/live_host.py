"""A host with every kind live, for the restore engine's failure matrix: nginx answering on
127.0.0.1, WireGuard (wireguard-go), fail2ban and the firewall in a test network namespace,
docker networks on the test dockerd (reached through a fault proxy), and plain files; drtool
run on it exactly as an operator would, with failure-injection shims first in its PATH."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drtool.collectors.wireguard import USERSPACE
from drtool.config import ServiceSettings
from tests.conftest import Cli, cli_environment, owned_listing
from tests.support.docker_faults import DockerFaults
from tests.support.dockerd import IMAGE, Dockerd
from tests.support.faults import Faults, shims
from tests.support.firewall import SEED_V4, SEED_V6
from tests.support.netns import in_root_view, network_namespace, run_in
from tests.support.services import Fail2ban, Nginx, wireguard_config, wireguard_keypair

# The firewall tables a restore of the seed's firewall applies (v4 filter and nat, v6 filter),
# one restore call each.
FIREWALL_TABLES = 3
# wireguard-go's control socket is /var/run/wireguard/<name>.sock, machine-wide whatever the
# namespace: a name of this run's own, so that another test run's interface never clashes.
WG_IFNAME = f"wg{secrets.token_hex(3)}"
# The connectivity probe: the management port is still open. It confirms the dead-man's switch.
PROBE = "iptables -C INPUT -s 203.0.113.0/24 -p tcp --dport 22 -j ACCEPT"
# The host's own native nftables table, beside iptables-nft's (the nftables kind's), and the
# probe that confirms its switch.
NATIVE_TABLE = """\
table inet hostfw {
	set admins {
		type ipv4_addr
		elements = { 203.0.113.7 }
	}
	chain input {
		type filter hook input priority filter + 10; policy accept;
		ip saddr @admins accept
	}
}
"""
NFT_PROBE = "nft list set inet hostfw admins"
NETWORK_FIELDS = ("Driver", "IPAM", "Internal", "Attachable", "Options", "Labels", "EnableIPv6")


@dataclass
class LiveHost:
    root: Path
    namespace: str
    nginx: Nginx
    fail2ban: Fail2ban
    dockerd: Dockerd
    docker_faults: DockerFaults
    faults: Faults
    cli: Cli
    good: dict[str, Any] | None = None  # the state the snapshot holds, once taken

    def docker(self) -> Any:
        return self.dockerd.client()

    def state(self) -> dict[str, Any]:
        """Everything a restore may change: files (content, mode, owner, mtime, links), the
        firewall, the live VPN interface, docker networks, and what the services answer."""
        client = self.docker()
        try:
            networks = {network.name: _fields(network.attrs) for network in client.networks.list()}
        finally:
            client.close()
        return {
            "files": owned_listing(self.root),
            "iptables": [
                _without_counters(run_in(self.namespace, tool))
                for tool in ("iptables-save", "ip6tables-save")
            ],
            "nftables": run_in(self.namespace, "nft", "-s", "list", "table", "inet", "hostfw"),
            "wireguard": _sections(
                run_in(self.namespace, *in_root_view(self.root, "wg", "showconf", WG_IFNAME))
            ),
            "docker": networks,
            "nginx": self.nginx.answer(),
            "fail2ban": self.fail2ban.client("status"),
        }

    def damage(self) -> None:
        """The incident: every kind edited away from the snapshot, in its files and live."""
        self.nginx.write_site("v2 (a bad edit)")
        self.nginx.reload_until("v2 (a bad edit)")
        conf = self.root / f"etc/wireguard/{WG_IFNAME}.conf"
        _, stranger = wireguard_keypair()
        conf.write_text(
            f"{conf.read_text()}\n[Peer]\nPublicKey = {stranger}\nAllowedIPs = 10.9.0.9/32\n"
        )
        run_in(
            self.namespace,
            *in_root_view(
                self.root, "wg", "set", WG_IFNAME, "peer", stranger, "allowed-ips", "10.9.0.9/32"
            ),
        )
        for rule in ("-D INPUT -p tcp --dport 443", "-A INPUT -p tcp --dport 8080"):
            run_in(self.namespace, "iptables", *rule.split(), "-j", "ACCEPT")
        run_in(
            self.namespace, "nft", "add", "element", "inet", "hostfw", "admins", "{ 192.0.2.99 }"
        )
        recidive = f"\n[recidive]\nenabled = true\nlogpath = {self.root}/var/log/fail2ban.log\n"
        self.fail2ban.write_jails(self.root / "var/log/nginx/error.log", recidive)
        self.fail2ban.client("reload")
        client = self.docker()
        try:
            client.networks.get("toolboxai_backend").remove()
        finally:
            client.close()
        (self.root / "etc/redis/redis.conf").write_text("protected-mode no\n")


def differences(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What differs between two states, path by path and network by network: readable in a
    failing assertion where the whole state is not."""
    found = []
    for aspect in expected:
        now, then = actual[aspect], expected[aspect]
        if isinstance(then, dict):
            for name in sorted(set(now) | set(then)):
                if now.get(name) != then.get(name):
                    found.append(
                        f"{aspect} {name}: {then.get(name)!r:.150} -> {now.get(name)!r:.150}"
                    )
        elif now != then:
            found.append(f"{aspect}: {then!r:.300} -> {now!r:.300}")
    return found


def _fields(inspected: dict[str, Any]) -> dict[str, Any]:
    """A network's configuration as inspect shows it. IPAM options the daemon shows as null
    for a network docker-py created and as {} for the same network created from its inspect
    output: the same configuration."""
    fields = {key: inspected.get(key) for key in NETWORK_FIELDS}
    fields["IPAM"] = {**fields["IPAM"], "Options": fields["IPAM"].get("Options") or {}}
    return fields


def _sections(showconf: str) -> list[str]:
    """wg showconf's sections, sorted: wireguard-go lists the peers in no stable order."""
    return sorted(section.strip() for section in showconf.split("\n\n"))


def _without_counters(saved: str) -> str:
    """iptables-save output without its comments and packet counters, which change by themselves."""
    return "\n".join(
        line.split(" [", 1)[0] if line.startswith(":") else line
        for line in saved.splitlines()
        if not line.startswith("#")
    )


def _config(host: LiveHost) -> str:
    """drtool.toml for the live host: the extra files, and how each service restarts and is
    checked."""
    services: dict[str, ServiceSettings] = {
        "nginx": host.nginx.service(),
        "fail2ban": host.fail2ban.service(),
        "iptables": ServiceSettings(health_command=PROBE),
        "nftables": ServiceSettings(health_command=NFT_PROBE),
        "docker_networks": ServiceSettings(compose_projects=("toolboxai",)),
    }
    lines = [
        "[files]",
        'paths = ["/etc/postgresql/15/main/pg_hba.conf", "/etc/redis/redis.conf"]',
    ]
    for kind, service in services.items():
        lines.append(f"[services.{kind}]")
        for key in ("restart", "health_url", "health_command", "pid_file", "error_log"):
            if getattr(service, key):
                lines.append(f'{key} = "{getattr(service, key)}"')
        if service.compose_projects:
            lines.append(f"compose_projects = {list(service.compose_projects)!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def live_host(directory: Path, dockerd: Dockerd, examples: Path) -> Iterator[LiveHost]:
    """Start every service of a live host under ``directory``; stop them all afterwards."""
    root = directory / "host"
    socket_path = directory / "docker.sock"
    with (
        network_namespace() as namespace,
        DockerFaults(socket_path, str(dockerd.directory / "docker.sock")) as docker_faults,
        _small_etc(root / "etc"),
        contextlib.ExitStack() as stack,
    ):
        for name in ("etc/redis", "etc/postgresql"):
            shutil.copytree(examples / name, root / name, symlinks=True)
        run_in(namespace, "ip", "link", "set", "lo", "up")
        run_in(namespace, "iptables-restore", input_text=SEED_V4)
        run_in(namespace, "ip6tables-restore", input_text=SEED_V6)
        run_in(namespace, "nft", "-f", "-", input_text=NATIVE_TABLE)
        nginx = Nginx(root, 0, namespace)
        nginx.start()
        stack.callback(nginx.stop)
        fail2ban = Fail2ban(root, namespace)
        fail2ban.start()
        stack.callback(fail2ban.stop)
        wireguard = root / "etc/wireguard"
        wireguard.mkdir(mode=0o700)
        (private, _), (_, peer) = wireguard_keypair(), wireguard_keypair()
        (wireguard / f"{WG_IFNAME}.conf").write_text(
            wireguard_config(private, "10.9.0.1/24", [(peer, "10.9.0.2/32")])
        )
        (wireguard / f"{WG_IFNAME}.conf").chmod(0o600)
        run_in(
            namespace,
            *in_root_view(root, *USERSPACE, "wg-quick", "up", str(wireguard / f"{WG_IFNAME}.conf")),
        )
        stack.callback(
            subprocess.run,
            ["ip", "netns", "exec", namespace, "ip", "link", "del", WG_IFNAME],
            capture_output=True,
            check=False,
        )
        stack.enter_context(_docker_networks(dockerd))
        faults = shims(directory / "shims")
        environment = cli_environment(directory, root, directory / "drtool.toml")
        environment.update(
            DRTOOL_NETNS=namespace,
            DOCKER_HOST=docker_faults.url,
            PATH=faults.path(),
        )
        host = LiveHost(
            root, namespace, nginx, fail2ban, dockerd, docker_faults, faults, Cli(environment)
        )
        (directory / "drtool.toml").write_text(_config(host))
        yield host


@contextlib.contextmanager
def _small_etc(etc: Path) -> Iterator[None]:
    """The host's /etc on a tmpfs of its own, small enough to be filled by a test."""
    etc.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=755", "tmpfs", str(etc)], check=True
    )
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(etc)], check=False)


@contextlib.contextmanager
def _docker_networks(dockerd: Dockerd) -> Iterator[None]:
    """The seed's networks, and a compose container on the default bridge; gone afterwards."""
    from docker.types import IPAMConfig, IPAMPool

    client = dockerd.client()
    try:
        client.networks.create(
            "toolboxai_frontend",
            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="172.20.0.0/24")]),
            labels={"com.docker.compose.project": "toolboxai"},
        )
        client.networks.create(
            "toolboxai_backend",
            internal=True,
            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="172.21.0.0/24")]),
        )
        client.containers.run(
            IMAGE,
            ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
            name="toolboxai-app-1",
            labels={"com.docker.compose.project": "toolboxai"},
            detach=True,
        )
        yield
    finally:
        for container in client.containers.list(all=True):
            container.remove(force=True)
        for network in client.networks.list():
            if network.name not in ("bridge", "host", "none"):
                network.remove()
        client.close()
