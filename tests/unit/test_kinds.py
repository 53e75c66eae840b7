"""The kind registry: one table gives the kinds, their collectors and their restore order."""

from __future__ import annotations

from pathlib import Path

import pytest

from drtool.collectors import collectors_for
from drtool.collectors.nftables import NftablesCollector
from drtool.config import ALL_KINDS, ServiceSettings, Settings, load_settings
from drtool.errors import ConfigError
from drtool.kinds import REGISTRY, kind


def test_the_firewall_is_one_place_in_the_restore_order() -> None:
    assert ALL_KINDS == (
        "docker_networks",
        "wireguard",
        "nginx",
        "iptables",
        "nftables",
        "fail2ban",
        "files",
    )
    assert [collector.kind for collector in collectors_for(Settings())] == list(ALL_KINDS)
    assert [entry.name for entry in REGISTRY] == list(ALL_KINDS)


def test_only_the_firewall_arms_a_dead_mans_switch() -> None:
    armed = [c.kind for c in collectors_for(Settings()) if c.arms_switch]
    assert armed == ["iptables", "nftables"]
    with pytest.raises(KeyError):
        kind("nosuchkind")


def test_nftables_settings(tmp_path: Path) -> None:
    path = tmp_path / "drtool.toml"
    path.write_text('[nftables]\npath = "/etc/nft/main.conf"\nruntime_tables = ["crowdsec*"]\n')
    (collector,) = collectors_for(Settings(kinds=("nftables",), **_nft_fields(load_settings(path))))
    assert isinstance(collector, NftablesCollector)
    assert collector.roots == ("etc/nft/main.conf",)
    assert "crowdsec*" in collector.patterns and "KUBE-*" in collector.patterns
    path.write_text('[nftables]\npath = "relative.conf"\n')
    with pytest.raises(ConfigError, match="must be absolute"):
        load_settings(path)


def _nft_fields(settings: Settings) -> dict[str, object]:
    return {"nftables_conf": settings.nftables_conf, "runtime_tables": settings.runtime_tables}


def test_one_firewall_one_probe_unless_nftables_has_its_own() -> None:
    probe = ServiceSettings(health_command="nc -z 10.0.0.2 22")
    shared = Settings(services={"iptables": probe})
    nftables = next(c for c in collectors_for(shared) if c.kind == "nftables")
    assert nftables.confirms_itself and nftables.service.health_command == "nc -z 10.0.0.2 22"
    own = Settings(services={"iptables": probe, "nftables": ServiceSettings(health_command="x")})
    nftables = next(c for c in collectors_for(own) if c.kind == "nftables")
    assert nftables.service.health_command == "x"
    assert not next(c for c in collectors_for(Settings()) if c.kind == "nftables").confirms_itself
