"""Docker networks against a real dockerd in a namespace, through the real docker SDK."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drtool.archive import write_parts
from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.collectors.docker_networks import OUTPUT
from drtool.config import ServiceSettings, Settings
from drtool.errors import RestoreRolledBack, ValidationRefused
from drtool.host import Host
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from drtool.snapshot import Manifest, new_snapshot_id
from tests.support.artifacts import new_record
from tests.support.dockerd import IMAGE, Dockerd

SLEEPER = "trap 'exit 0' TERM; sleep 3600 & wait"
SETTINGS = Settings(
    kinds=("docker_networks",),
    services={"docker_networks": ServiceSettings(compose_projects=("toolboxai",))},
)


@pytest.fixture
def docker(dockerd: Dockerd, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The test daemon, emptied of networks and containers before and after each test."""
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    client = dockerd.client()
    request_close = client.close

    def clean() -> None:
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.networks.prune()
        for network in client.networks.list():
            if network.name not in ("bridge", "host", "none"):
                network.remove()

    clean()
    yield client
    clean()
    request_close()


def host(dockerd: Dockerd, tmp_path: Path) -> Host:
    return Host(tmp_path / "root", "web-1", Runner(netns=dockerd.namespace))


def create_seed_networks(client) -> None:
    """The seed's segmentation, plus the fields docker-py's create_network cannot set."""
    from docker.types import IPAMConfig, IPAMPool

    def ipam(subnet: str, **pool: object) -> IPAMConfig:
        return IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, **pool)])

    client.networks.create(
        "toolboxai_frontend",
        driver="bridge",
        ipam=ipam("172.20.0.0/24"),
        options={"com.docker.network.bridge.enable_icc": "false"},
        labels={"com.docker.compose.project": "toolboxai"},
    )
    client.networks.create(
        "toolboxai_backend",
        internal=True,
        ipam=ipam("172.21.0.0/24"),
        options={"com.docker.network.driver.mtu": "1400"},
        labels={"com.docker.compose.project": "toolboxai", "com.docker.compose.network": "backend"},
    )
    client.networks.create(
        "toolboxai_database",
        attachable=True,
        ipam=ipam(
            "172.22.0.0/24",
            iprange="172.22.0.128/25",
            gateway="172.22.0.1",
            aux_addresses={"pgbouncer": "172.22.0.5"},
        ),
    )
    client.networks.create(
        "toolboxai_cache",
        enable_ipv6=True,
        ipam=IPAMConfig(
            pool_configs=[IPAMPool(subnet="172.23.0.0/24"), IPAMPool(subnet="fd00:23::/64")]
        ),
    )
    client.api._result(
        client.api._post_json(
            client.api._url("/networks/create"),
            data={
                "Name": "vault_config",
                "ConfigOnly": True,
                "IPAM": {"Config": [{"Subnet": "172.24.0.0/24"}]},
            },
        ),
        json=True,
    )


# What differs between two creations of the same network, by docker's own design: nothing else
# of `docker network inspect` may (the oracle is docker's output, not drtool's own spec).
VOLATILE = ("Id", "Created", "Containers")


def inspect_all(client) -> dict[str, dict]:
    """``docker network inspect`` of every user network (the Engine API's own answer). One
    spelling is evened out: IPAM ``Options`` is null for a network created without any, and
    ``{}`` for one created with an empty map; docker treats both alike."""
    inspected = {}
    for network in client.networks.list():
        if network.name in ("bridge", "host", "none"):
            continue
        answer = client.api.inspect_network(network.id)
        answer["IPAM"]["Options"] = answer["IPAM"]["Options"] or {}
        inspected[network.name] = {k: v for k, v in answer.items() if k not in VOLATILE}
    return inspected


def differences(after: dict[str, dict], before: dict[str, dict]) -> list[str]:
    """Every (network, field) where the two inspections differ, with both values."""
    return [
        f"{name}.{key}: {before.get(name, {}).get(key)!r} -> {after.get(name, {}).get(key)!r}"
        for name in sorted(set(before) | set(after))
        for key in sorted(set(before.get(name, {})) | set(after.get(name, {})))
        if before.get(name, {}).get(key) != after.get(name, {}).get(key)
    ]


def test_networks_are_recreated_in_full_and_compose_containers_restarted(
    repository: Repository, docker, dockerd: Dockerd, tmp_path: Path
) -> None:
    from docker.types import IPAMConfig, IPAMPool

    create_seed_networks(docker)
    web = docker.containers.run(
        IMAGE,
        ["/bin/sleep", "3600"],
        detach=True,
        network="toolboxai_frontend",
        name="toolboxai-nginx-1",
        labels={"com.docker.compose.project": "toolboxai"},
    )
    before = inspect_all(docker)
    manifest = run_backup(repository, host(dockerd, tmp_path), collectors_for(SETTINGS))
    assert manifest.artifact("docker_networks").present

    for name in ("toolboxai_backend", "toolboxai_database", "vault_config"):
        docker.networks.get(name).remove()
    docker.networks.get("toolboxai_cache").remove()
    # Recreated by hand, wrongly. With a subnet of its own: docker's next free pool depends on
    # what the session's other tests created, and could overlap a network the restore needs.
    docker.networks.create(
        "toolboxai_cache", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="10.99.0.0/24")])
    )
    started_at = docker.api.inspect_container(web.id)["State"]["StartedAt"]

    restore_snapshot(repository, manifest, host(dockerd, tmp_path), collectors_for(SETTINGS))
    assert differences(inspect_all(docker), before) == []
    assert inspect_all(docker)["vault_config"]["ConfigOnly"] is True
    state = docker.api.inspect_container(web.id)["State"]
    assert state["Running"] and state["StartedAt"] != started_at, "compose container restarted"


def test_a_differing_network_with_containers_is_reported_never_deleted(
    repository: Repository, docker, dockerd: Dockerd, tmp_path: Path
) -> None:
    from docker.types import IPAMConfig, IPAMPool

    docker.networks.create("web", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="172.30.0.0/24")]))
    manifest = run_backup(repository, host(dockerd, tmp_path), collectors_for(SETTINGS))
    docker.networks.get("web").remove()
    docker.networks.create("web", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="172.31.0.0/24")]))
    container = docker.containers.run(IMAGE, ["/bin/sleep", "3600"], detach=True, network="web")
    with pytest.raises(RestoreRolledBack, match=r"web differs .* 1 container"):
        restore_snapshot(repository, manifest, host(dockerd, tmp_path), collectors_for(SETTINGS))
    network = docker.networks.get("web")
    network.reload()
    assert container.id in [c.id for c in network.containers], "never silently deleted"


def test_overlapping_subnets_are_refused_before_anything_changes(
    repository: Repository, docker, dockerd: Dockerd, tmp_path: Path
) -> None:
    from docker.types import IPAMConfig, IPAMPool

    create_seed_networks(docker)
    manifest = run_backup(repository, host(dockerd, tmp_path), collectors_for(SETTINGS))
    docker.networks.get("toolboxai_database").remove()
    docker.networks.create(
        "intruder", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="172.22.0.0/16")])
    )
    before = inspect_all(docker)
    with pytest.raises(ValidationRefused, match=r"172\.22\.0\.0/24 overlaps 172\.22\.0\.0/16"):
        restore_snapshot(repository, manifest, host(dockerd, tmp_path), collectors_for(SETTINGS))
    assert differences(inspect_all(docker), before) == []


def _snapshot_of(repository: Repository, specs: list[dict]) -> Manifest:
    """A snapshot whose docker networks are ``specs``, written with drtool's own format code
    as any host holding the passphrase can."""
    outputs = {OUTPUT: json.dumps(specs).encode()}
    (part,) = write_parts([], Path("/nonexistent"), outputs)
    with part:
        record = new_record(repository, "web-1", "docker_networks", (), part.read(), entries=1)
    manifest = Manifest(
        id=new_snapshot_id(datetime.now(UTC)),
        host="web-1",
        time="2025-01-07T02:15:00.000000Z",
        tags=(),
        drtool_version="test",
        artifacts=(record,),
    )
    repository.write_manifest(manifest)
    return manifest


def _bridge(name: str, subnet: str, **fields: object) -> dict:
    return {
        "Name": name,
        "Driver": "bridge",
        "IPAM": {"Driver": "default", "Config": [{"Subnet": subnet}], "Options": {}},
        "Options": {},
        "Labels": {},
        **fields,
    }


@pytest.mark.parametrize(
    ("spec", "refusal"),
    [
        ({**_bridge("evil", "172.29.0.0/24"), "Driver": "weave"}, "driver 'weave' is not allowed"),
        (
            {**_bridge("evil", "172.29.0.0/24"), "Driver": "macvlan", "Options": {"parent": "lo"}},
            "macvlan on parent lo needs the parent listed in",
        ),
        (
            _bridge("evil", "172.29.0.0/24", Options={"com.example.plugin.hook": "/tmp/x"}),
            "option 'com.example.plugin.hook' is not allowed",
        ),
        (
            _bridge("evil", "172.29.0.0/24", Options={"com.docker.network.driver.mtu": "1; x"}),
            "option com.docker.network.driver.mtu='1; x' is not allowed",
        ),
        (_bridge("evil", "172.29.0.0/24", Labels={"a": 1}), "'Labels' must be an object of"),
        (_bridge("evil", "172.29.0.0/24", Extra=True), "unknown field 'Extra'"),
        ({**_bridge("evil", "172.29.0.0/24"), "IPAM": {"Driver": "x"}}, "IPAM driver 'x'"),
        (_bridge("evil", "127.0.0.0/16"), "overlaps the host's route 127.0.0.0/8 (dev lo)"),
        (
            _bridge("evil", "172.29.0.0/24", Options={"com.docker.network.bridge.name": "lo"}),
            "bridge name lo is an interface of this host",
        ),
        (
            _bridge(
                "evil",
                "172.29.0.0/24",
                Options={"com.docker.network.bridge.gateway_mode_ipv4": "nat-unprotected"},
            ),
            "gateway_mode_ipv4='nat-unprotected' is not allowed",
        ),
    ],
    ids=[
        "plugin-driver",
        "macvlan-parent",
        "unknown-option",
        "option-value",
        "label-type",
        "unknown-field",
        "ipam-driver",
        "loopback-subnet",
        "host-interface-bridge",
        "unprotected-gateway",
    ],
)
def test_hostile_network_specs_are_refused_before_anything_changes(
    repository: Repository, docker, dockerd: Dockerd, tmp_path: Path, spec: dict, refusal: str
) -> None:
    subprocess.run(
        ["ip", "netns", "exec", dockerd.namespace, "ip", "link", "set", "lo", "up"], check=True
    )
    before = inspect_all(docker)
    manifest = _snapshot_of(repository, [spec])
    with pytest.raises(ValidationRefused, match=re.escape(refusal)):
        restore_snapshot(repository, manifest, host(dockerd, tmp_path), collectors_for(SETTINGS))
    assert differences(inspect_all(docker), before) == []


def test_a_subnet_over_a_host_route_is_refused(
    repository: Repository, docker, dockerd: Dockerd, tmp_path: Path
) -> None:
    """docker checks its own networks only: a route of the host (a VPN, a LAN) is drtool's to
    check, from ``ip -j route`` in the host's namespace."""
    netns = ("ip", "netns", "exec", dockerd.namespace)
    subprocess.run([*netns, "ip", "link", "set", "lo", "up"], check=True)
    route = ("ip", "route", "add", "10.77.0.0/16", "dev", "lo")
    subprocess.run([*netns, *route], check=True)
    try:
        manifest = _snapshot_of(repository, [_bridge("office", "10.77.5.0/24")])
        before = inspect_all(docker)
        with pytest.raises(ValidationRefused, match=r"10\.77\.5\.0/24 overlaps the host's route"):
            restore_snapshot(
                repository, manifest, host(dockerd, tmp_path), collectors_for(SETTINGS)
            )
        assert differences(inspect_all(docker), before) == []
        # A subnet beside the route restores as ever.
        from docker.types import IPAMConfig, IPAMPool

        pool = IPAMConfig(pool_configs=[IPAMPool(subnet="10.78.5.0/24")])
        docker.networks.create("office", ipam=pool)
        allowed = run_backup(repository, host(dockerd, tmp_path), collectors_for(SETTINGS))
        docker.networks.get("office").remove()
        restore_snapshot(repository, allowed, host(dockerd, tmp_path), collectors_for(SETTINGS))
        office = inspect_all(docker)["office"]["IPAM"]["Config"]
        assert [config["Subnet"] for config in office] == ["10.78.5.0/24"]
    finally:
        subprocess.run([*netns, "ip", "route", "del", "10.77.0.0/16", "dev", "lo"], check=False)
