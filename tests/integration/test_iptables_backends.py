"""Never a silent empty firewall: both iptables backends in one namespace, a recorded backend
checked against the allow-list, an empty ruleset recorded as such, an unreadable one failing the
backup. The oracle is each backend's own save tool, read without drtool's parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import Artifact, collectors_for
from drtool.collectors.iptables import IptablesCollector, recorded_rulesets
from drtool.config import ServiceSettings, Settings
from drtool.dump import snapshot_opened
from drtool.errors import CollectError, ExitCode, FirewallBackendRefused, ValidationRefused
from drtool.host import Host
from drtool.inspect import snapshot_contents
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from tests.support.firewall import SEED_V4, SEED_V6
from tests.support.netns import network_namespace, run_in

pytestmark = pytest.mark.real_parts("iptables-nft", "iptables-legacy", "netns")
SETTINGS = Settings(
    kinds=("iptables",), services={"iptables": ServiceSettings(health_command="true")}
)
LEGACY_V4 = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.7/32 -j DROP\nCOMMIT\n"
LEGACY_V6 = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 2001:db8::7/128 -j DROP\nCOMMIT\n"


def saved(namespace: str, program: str) -> str:
    """What the tool itself prints, without comments and counters."""
    text = run_in(namespace, program)
    return "".join(
        re.sub(r"\[\d+:\d+\]", "[0:0]", line) + "\n"
        for line in text.splitlines()
        if not line.startswith("#")
    )


def all_rules(namespace: str) -> dict[str, str]:
    return {
        program: saved(namespace, program)
        for program in (
            "iptables-nft-save",
            "ip6tables-nft-save",
            "iptables-legacy-save",
            "ip6tables-legacy-save",
        )
    }


def host_in(namespace: str, tmp_path: Path) -> Host:
    return Host(tmp_path / "root", "fw-1", Runner(netns=namespace))


def test_legacy_tables_beside_nft_are_read_and_restored_with_their_own_backend(
    repository: Repository, netns: str, tmp_path: Path
) -> None:
    run_in(netns, "iptables-nft-restore", input_text=SEED_V4)
    run_in(netns, "ip6tables-nft-restore", input_text=SEED_V6)
    run_in(netns, "iptables-legacy-restore", input_text=LEGACY_V4)
    run_in(netns, "ip6tables-legacy-restore", input_text=LEGACY_V6)
    before = all_rules(netns)
    host = host_in(netns, tmp_path)
    collectors = collectors_for(SETTINGS)
    manifest = run_backup(repository, host, collectors)
    assert manifest.artifact("iptables").metadata["backends"] == ["nft", "legacy"]
    with snapshot_opened(repository, manifest) as opened:
        for address, program in (
            ("iptables:legacy-v4", "iptables-legacy-save"),
            ("iptables:legacy-v6", "ip6tables-legacy-save"),
        ):
            dumped = opened.content(address).decode()
            # what iptables-legacy-restore accepts, and what the tool itself saves
            with network_namespace() as fresh:
                run_in(fresh, program.replace("-save", "-restore"), "--test", input_text=dumped)
                run_in(fresh, program.replace("-save", "-restore"), input_text=dumped)
                assert saved(fresh, program) == before[program]

    for program in ("iptables-nft", "ip6tables-nft", "iptables-legacy", "ip6tables-legacy"):
        run_in(netns, program, "-F")
    restore_snapshot(repository, manifest, host, collectors)
    assert all_rules(netns) == before


def test_a_backend_outside_the_allow_list_is_refused_before_anything_runs(
    repository: Repository, netns: str, tmp_path: Path
) -> None:
    class Hostile(IptablesCollector):
        def collect(self, host: Host) -> Artifact:
            artifact = super().collect(host)
            metadata = {**artifact.metadata, "backend": "../../tmp/x", "backends": ["../../tmp/x"]}
            return Artifact(artifact.kind, (), (), metadata=metadata, outputs=artifact.outputs)

    run_in(netns, "iptables-nft-restore", input_text=SEED_V4)
    host = host_in(netns, tmp_path)
    manifest = run_backup(repository, host, [Hostile()])
    run_in(netns, "iptables-nft", "-F")
    before = all_rules(netns)
    # The engine's validation refuses it (exit 22); read elsewhere (show, dump) it is exit 36.
    with pytest.raises(ValidationRefused, match=r'unknown backend "\.\./\.\./tmp/x"'):
        restore_snapshot(repository, manifest, host, collectors_for(SETTINGS))
    staged_record = manifest.artifact("iptables")
    with pytest.raises(FirewallBackendRefused) as raised:
        recorded_rulesets(staged_record.metadata)
    assert raised.value.exit_code == ExitCode.FIREWALL_BACKEND == 36
    assert all_rules(netns) == before


def test_an_empty_ruleset_is_recorded_and_shown_as_empty(
    repository: Repository, netns: str, tmp_path: Path
) -> None:
    manifest = run_backup(repository, host_in(netns, tmp_path), collectors_for(SETTINGS))
    record = manifest.artifact("iptables")
    assert record.present and record.metadata["empty"] is True
    contents = snapshot_contents(repository, manifest, collectors_for(SETTINGS))
    assert contents["artifacts"][0]["details"]["ruleset"] == "empty"


def test_a_ruleset_that_cannot_be_read_fails_the_backup_naming_it(
    repository: Repository, tmp_path: Path
) -> None:
    host = Host(tmp_path / "root", "fw-1", Runner(netns="drtool-no-such-namespace"))
    with pytest.raises(CollectError, match="cannot read the nft v4 rules") as raised:
        run_backup(repository, host, collectors_for(SETTINGS))
    assert raised.value.exit_code == ExitCode.COLLECT == 20
    assert repository.snapshot_refs() == []


def test_kubernetes_chains_are_runtime_owned_and_stay(
    repository: Repository, netns: str, tmp_path: Path
) -> None:
    run_in(netns, "iptables-nft-restore", input_text=SEED_V4)
    host = host_in(netns, tmp_path)
    collectors = collectors_for(SETTINGS)
    manifest = run_backup(repository, host, collectors)
    for command in (
        ["-N", "KUBE-SERVICES"],
        ["-A", "KUBE-SERVICES", "-d", "10.96.0.1/32", "-j", "ACCEPT"],
        ["-I", "INPUT", "-j", "KUBE-SERVICES"],
        ["-N", "cali-INPUT"],
        ["-I", "INPUT", "-j", "cali-INPUT"],
    ):
        run_in(netns, "iptables-nft", *command)
    live = saved(netns, "iptables-nft-save")
    restore_snapshot(repository, manifest, host, collectors)
    assert saved(netns, "iptables-nft-save") == live
