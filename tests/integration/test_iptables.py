"""The firewall kind against the real iptables, nft and legacy, inside test namespaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from drtool import iptables_rules as rules
from drtool.backup import run_backup
from drtool.collectors import Artifact, collectors_for
from drtool.collectors.iptables import IptablesCollector
from drtool.config import ServiceSettings, Settings
from drtool.errors import RestoreRolledBack, ValidationRefused
from drtool.host import Host
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from tests.support.firewall import SEED_V4, SEED_V6
from tests.support.netns import run_in

# What docker and fail2ban add at run time, after the backup: a restore must keep all of it.
RUNTIME = [
    ["-N", "DOCKER-USER"],
    ["-A", "DOCKER-USER", "-j", "RETURN"],
    ["-I", "FORWARD", "-j", "DOCKER-USER"],
    ["-N", "f2b-sshd"],
    ["-A", "f2b-sshd", "-s", "192.0.2.66/32", "-j", "REJECT"],
    ["-A", "f2b-sshd", "-j", "RETURN"],
    ["-I", "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "22", "-j", "f2b-sshd"],
]

BACKENDS = [
    pytest.param(
        backend,
        marks=pytest.mark.real_parts(f"iptables-{backend}", "netns"),
    )
    for backend in ("nft", "legacy")
]


def settings(backend: str) -> Settings:
    """The firewall with a connectivity probe, which confirms the dead-man's switch at once."""
    probe = ServiceSettings(health_command="true")
    return Settings(kinds=("iptables",), iptables_backend=backend, services={"iptables": probe})


def save(namespace: str, backend: str, family: str = "iptables") -> str:
    return rules.normalise(run_in(namespace, f"{family}-{backend}-save"))


def load(namespace: str, backend: str, text: str, family: str = "iptables") -> None:
    run_in(namespace, f"{family}-{backend}-restore", input_text=text)


def host_in(namespace: str, tmp_path: Path) -> Host:
    return Host(tmp_path / "root", "fw-1", Runner(netns=namespace))


def backup_and_restore(repository: Repository, host: Host, backend: str, damage) -> None:
    collectors = collectors_for(settings(backend))
    manifest = run_backup(repository, host, collectors)
    assert manifest.artifact("iptables").present
    damage()
    restore_snapshot(repository, manifest, host, collectors)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_rules_come_back_and_runtime_chains_stay(
    repository: Repository, netns: str, tmp_path: Path, backend: str
) -> None:
    load(netns, backend, SEED_V4)
    load(netns, backend, SEED_V6, "ip6tables")
    snapshot_v4, snapshot_v6 = save(netns, backend), save(netns, backend, "ip6tables")

    def damage() -> None:
        run_in(netns, f"iptables-{backend}", "-F", "INPUT")
        run_in(netns, f"iptables-{backend}", "-P", "INPUT", "ACCEPT")
        run_in(netns, f"iptables-{backend}", "-A", "INPUT", "-s", "192.0.2.0/24", "-j", "ACCEPT")
        run_in(netns, f"ip6tables-{backend}", "-F")
        for command in RUNTIME:
            run_in(netns, f"iptables-{backend}", *command)

    backup_and_restore(repository, host_in(netns, tmp_path), backend, damage)

    live = rules.by_name(rules.parse(save(netns, backend)))
    wanted = rules.by_name(rules.parse(snapshot_v4))
    patterns = rules.DEFAULT_RUNTIME_CHAINS
    for name in ("filter", "nat"):
        assert rules.host_owned(live[name], patterns).rules == wanted[name].rules
        assert rules.host_owned(live[name], patterns).chains == wanted[name].chains
    assert save(netns, backend, "ip6tables") == snapshot_v6
    # fail2ban's ban and docker's jump survived, each first in its chain
    assert ("f2b-sshd", "-s 192.0.2.66/32 -j REJECT --reject-with icmp-port-unreachable") in (
        live["filter"].rules
    )
    assert next(rule for chain, rule in live["filter"].rules if chain == "FORWARD") == (
        "-j DOCKER-USER"
    )
    assert next(rule for chain, rule in live["filter"].rules if chain == "INPUT").endswith(
        "-j f2b-sshd"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_ten_thousand_rules(
    repository: Repository, netns: str, tmp_path: Path, backend: str
) -> None:
    blocklist = "\n".join(
        f"-A INPUT -s 10.{index // 65536}.{index // 256 % 256}.{index % 256}/32 -j DROP"
        for index in range(10_000)
    )
    load(netns, backend, f"*filter\n:INPUT DROP [0:0]\n{blocklist}\nCOMMIT\n")
    before = save(netns, backend)
    assert before.count("\n-A INPUT") + before.startswith("-A") >= 10_000

    backup_and_restore(
        repository,
        host_in(netns, tmp_path),
        backend,
        lambda: run_in(netns, f"iptables-{backend}", "-F"),
    )
    assert save(netns, backend) == before


class PlantedRules(IptablesCollector):
    """Collects a ruleset no iptables would load: a jump to a chain that does not exist."""

    def collect(self, host: Host) -> Artifact:
        artifact = super().collect(host)
        bad = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j NOSUCHCHAIN\nCOMMIT\n"
        return Artifact(
            artifact.kind,
            (),
            (),
            metadata=artifact.metadata,
            outputs={"v4.rules": bad.encode(), "v6.rules": b""},
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_ruleset_iptables_would_refuse_is_refused_before_anything_changes(
    repository: Repository, netns: str, tmp_path: Path, backend: str
) -> None:
    load(netns, backend, SEED_V4)
    host = host_in(netns, tmp_path)
    manifest = run_backup(repository, host, [PlantedRules(backend)])
    run_in(netns, f"iptables-{backend}", "-A", "INPUT", "-s", "192.0.2.9", "-j", "DROP")
    before = save(netns, backend)
    with pytest.raises(ValidationRefused, match="NOSUCHCHAIN"):
        restore_snapshot(repository, manifest, host, collectors_for(settings(backend)))
    assert save(netns, backend) == before


def test_without_a_namespace_a_sandbox_root_never_touches_the_machines_firewall(
    repository: Repository, tmp_path: Path
) -> None:
    host = Host(tmp_path / "root", "fw-1")
    artifact = IptablesCollector().collect(host)
    assert not artifact.present and "sandbox root" in artifact.metadata["reason"]


def test_show_describes_the_rules(netns: str, tmp_path: Path, repository: Repository) -> None:
    from drtool.inspect import snapshot_contents

    load(netns, "nft", SEED_V4)
    manifest = run_backup(repository, host_in(netns, tmp_path), collectors_for(settings("nft")))
    contents = snapshot_contents(repository, manifest, collectors_for(settings("nft")))
    (iptables,) = contents["artifacts"]
    assert iptables["details"]["v4"]["filter"] == {
        "policies": {"INPUT": "DROP", "FORWARD": "DROP", "OUTPUT": "ACCEPT"},
        "chains": 3,
        "rules": 11,
    }
    assert iptables["details"]["backend"] == "nft"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_ruleset_that_cuts_the_operator_off_is_rolled_back(
    repository: Repository, netns: str, tmp_path: Path, backend: str
) -> None:
    """The probe (here: is HTTP still allowed?) fails under the snapshot's rules: the previous
    rules come back at once, verified, and the outcome says so."""
    cut_off = "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n"
    load(netns, backend, cut_off)
    ssh_probe = f"iptables-{backend} -C INPUT -p tcp -m tcp --dport 80 -j ACCEPT"
    probing = Settings(
        kinds=("iptables",),
        iptables_backend=backend,
        services={"iptables": ServiceSettings(health_command=ssh_probe)},
    )
    host = host_in(netns, tmp_path)
    manifest = run_backup(repository, host, collectors_for(probing))
    load(netns, backend, SEED_V4)
    before = save(netns, backend)
    with pytest.raises(RestoreRolledBack, match="connectivity probe failed") as raised:
        restore_snapshot(repository, manifest, host, collectors_for(probing))
    assert raised.value.report.rolled_back == ["iptables"]
    assert save(netns, backend) == before
