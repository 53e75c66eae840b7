"""The allow-lists a docker network spec from a snapshot is held to (the daemon-facing checks run
against a real dockerd in tests/integration/test_docker_networks.py)."""

from __future__ import annotations

import json

import pytest

from drtool.collectors.docker_specs import read_specs, spec_problems
from drtool.errors import IntegrityError

MACVLAN = {
    "Name": "lan",
    "Driver": "macvlan",
    "IPAM": {"Driver": "default", "Config": [{"Subnet": "192.168.50.0/24"}]},
    "Options": {"parent": "eth1", "macvlan_mode": "bridge"},
    "Labels": {},
}


def test_macvlan_needs_the_operator_s_consent_for_its_parent() -> None:
    (spec,) = read_specs(json.dumps([MACVLAN]).encode())
    assert spec_problems(spec, ()) == [
        "docker network lan: macvlan on parent eth1 needs the parent listed in "
        "[restore] network_parents"
    ]
    assert spec_problems(spec, ("eth1",)) == []


def test_a_config_only_network_carries_the_parent_check() -> None:
    config_only = {**MACVLAN, "Name": "lan-config", "Driver": "null", "ConfigOnly": True}
    (spec,) = read_specs(json.dumps([config_only]).encode())
    assert spec_problems(spec, ("eth1",)) == []
    assert "needs the parent" in spec_problems(spec, ())[0]


@pytest.mark.parametrize(
    "document",
    [
        b"{}",
        b"not json",
        json.dumps([{**MACVLAN, "Name": "../x"}]).encode(),
        json.dumps([{**MACVLAN, "Internal": "yes"}]).encode(),
        json.dumps([{**MACVLAN, "IPAM": {"Config": [{"Subnet": "10.0.0.0/33"}]}}]).encode(),
        json.dumps([{**MACVLAN, "IPAM": {"Config": [{"Gateway": "me"}]}}]).encode(),
        json.dumps([{**MACVLAN, "Options": {"parent": ["eth1"]}}]).encode(),
    ],
)
def test_malformed_specs_are_integrity_errors(document: bytes) -> None:
    with pytest.raises(IntegrityError):
        read_specs(document)
