"""Docker networks: every user-defined network as ``docker network inspect`` describes it,
through the docker SDK (``DOCKER_HOST`` honoured), recreated with the full create request.

docker-py's ``create_network`` lacks fields of the Engine API (ConfigOnly, ConfigFrom,
EnableIPv4), so networks are created through the raw API with everything inspect gave. A network
that exists but differs is recreated only when no container is attached; otherwise it is
reported, never silently deleted.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drtool.collectors.base import Artifact, Collector
from drtool.collectors.docker_specs import (
    SPEC_FIELDS,
    bridge_name_problems,
    docker_devices,
    host_interfaces,
    host_routes,
    read_specs,
    route_problems,
    spec_problems,
    subnets,
)
from drtool.config import ServiceSettings
from drtool.errors import CollectError, RestoreFailed
from drtool.host import Host
from drtool.install import StagedArtifact

log = logging.getLogger(__name__)

BUILTIN_NETWORKS = {"bridge", "host", "none"}
OUTPUT = "networks.json"


@contextmanager
def _engine() -> Iterator[Any]:
    """A client of the daemon DOCKER_HOST names (else the local socket), closed after use.

    What the SDK raises (a refused request, a daemon gone) becomes a one-line RestoreFailed
    with the daemon's own message.
    """
    import docker  # the SDK is imported only where docker networks are backed up or restored
    import requests

    client = None
    try:
        client = docker.from_env(timeout=60)
        yield client
    except docker.errors.APIError as error:
        request = error.response.request if error.response is not None else None
        where = f" ({request.method} {request.path_url.split('?')[0]})" if request else ""
        raise RestoreFailed(
            f"docker engine: {error.explanation or error.status_code}{where}"
        ) from None
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise RestoreFailed(f"docker engine: {error}") from None
    finally:
        if client is not None:
            client.close()


def _spec(inspected: dict[str, Any]) -> dict[str, Any]:
    spec = {field: inspected[field] for field in SPEC_FIELDS if field in inspected}
    ipam = dict(spec.get("IPAM") or {})
    ipam["Config"] = [
        {key: value for key, value in entry.items() if value} for entry in ipam.get("Config") or []
    ]
    ipam["Options"] = ipam.get("Options") or {}
    spec["IPAM"] = ipam
    spec["Options"] = spec.get("Options") or {}
    spec["Labels"] = spec.get("Labels") or {}
    return spec


class DockerNetworksCollector(Collector):
    kind = "docker_networks"
    live_state = True
    atomic_apply = False
    sandboxable = False

    def __init__(
        self, service: ServiceSettings | None = None, network_parents: tuple[str, ...] = ()
    ) -> None:
        self.service = service or ServiceSettings()
        self.network_parents = network_parents

    def unavailable_reason(self, host: Host) -> str | None:
        if not host.owns_network and "DOCKER_HOST" not in os.environ:
            return "a sandbox root without --netns or DOCKER_HOST: the daemon is the machine's own"
        try:
            with _engine() as client:
                client.ping()
        except Exception as error:  # the SDK raises several families for "no daemon here"
            return f"no docker daemon answers ({error.__class__.__name__})"
        return None

    @staticmethod
    def _live(client: Any, builtin: bool = False) -> dict[str, dict[str, Any]]:
        """The daemon's networks by name, as inspect gives them (user-defined ones only)."""
        return {
            network["Name"]: client.api.inspect_network(network["Id"])
            for network in client.api.networks()
            if builtin or network["Name"] not in BUILTIN_NETWORKS
        }

    def collect(self, host: Host) -> Artifact:
        reason = self.unavailable_reason(host)
        if reason:
            return Artifact(self.kind, (), (), metadata={"reason": reason})
        try:
            with _engine() as client:
                specs = [_spec(inspected) for _, inspected in sorted(self._live(client).items())]
                version = client.version().get("Version")
        except Exception as error:
            raise CollectError(f"docker networks: {error}") from None
        output = json.dumps(specs, indent=2, sort_keys=True).encode()
        return Artifact(
            self.kind, (), (), metadata={"docker_version": version}, outputs={OUTPUT: output}
        )

    @staticmethod
    def _snapshot(staged: StagedArtifact) -> list[dict[str, Any]]:
        return read_specs(staged.outputs().get(OUTPUT, b"[]"))

    def validate(self, host: Host, staged: StagedArtifact) -> list[str]:
        """The allow-lists first (nothing is asked of the daemon for a refused spec), then
        subnet overlaps with the networks that stay and with the host's own routes."""
        wanted = self._snapshot(staged)
        findings = [
            problem for spec in wanted for problem in spec_problems(spec, self.network_parents)
        ]
        if findings:
            return findings
        with _engine() as client:
            inspected = self._live(client, builtin=True)
        live = {name: _spec(found) for name, found in inspected.items()}
        owned = docker_devices(inspected.values())
        findings += route_problems(wanted, host_routes(host.runner), owned)
        findings += bridge_name_problems(wanted, host_interfaces(host.runner), owned)
        # Live networks the snapshot does not name keep their subnets; the others are replaced.
        names = {spec["Name"] for spec in wanted}
        claimed = [
            (name, subnet)
            for name, other in live.items()
            if name not in names
            for subnet in subnets(other)
        ]
        for spec in wanted:
            for subnet in subnets(spec):
                for name, taken in claimed:
                    if subnet.version == taken.version and subnet.overlaps(taken):
                        findings.append(
                            f"docker network {spec['Name']}: subnet {subnet} overlaps {taken} "
                            f"of network {name}"
                        )
                claimed.append((spec["Name"], subnet))
        return findings

    def apply(self, host: Host, staged: StagedArtifact) -> None:
        with _engine() as client:
            self._apply(client, self._snapshot(staged))

    def _apply(self, client: Any, wanted: list[dict[str, Any]]) -> None:
        live = self._live(client)
        for spec in wanted:
            current = live.get(spec["Name"])
            if current is not None:
                if _spec(current) == spec:
                    continue
                if current.get("Containers"):
                    log.warning(
                        "docker network %s differs from the snapshot but has containers "
                        "attached: left as it is",
                        spec["Name"],
                    )
                    continue
                client.api.remove_network(current["Id"])
            self._create(client, spec)

    def _create(self, client: Any, spec: dict[str, Any]) -> None:
        """The full create request through the raw Engine API (the SDK's lacks fields), for a
        spec within the allow-lists only (validation checked them; so does this last step)."""
        refused = spec_problems(spec, self.network_parents)
        if refused:
            raise RestoreFailed(refused[0])
        body = {**spec, "CheckDuplicate": True}
        if not body.get("ConfigFrom", {}).get("Network"):
            body.pop("ConfigFrom", None)
        response = client.api._post_json(client.api._url("/networks/create"), data=body)
        client.api._result(response, json=True)

    def roll_back(self, host: Host, captured: StagedArtifact) -> None:
        """Back to the captured networks: those the restore created go again (if unused)."""
        wanted = self._snapshot(captured)
        names = {spec["Name"] for spec in wanted}
        with _engine() as client:
            self._apply(client, wanted)
            for name, network in self._live(client).items():
                if name not in names and not network.get("Containers"):
                    client.api.remove_network(network["Id"])

    def restart(self, host: Host, staged: StagedArtifact) -> None:
        """Restart the containers of the configured compose projects through the SDK."""
        projects = set(self.service.compose_projects)
        if not projects:
            return
        with _engine() as client:
            for container in client.containers.list(all=True):
                if container.labels.get("com.docker.compose.project") in projects:
                    container.restart(timeout=10)

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        with _engine() as client:
            return self._problems(client, self._snapshot(staged))

    def _problems(self, client: Any, wanted: list[dict[str, Any]]) -> list[str]:
        live = self._live(client)
        problems = []
        for spec in wanted:
            current = live.get(spec["Name"])
            if current is None:
                problems.append(f"docker network {spec['Name']} is missing")
            elif _spec(current) != spec:
                attached = len(current.get("Containers") or {})
                problems.append(
                    f"docker network {spec['Name']} differs from the snapshot"
                    + (
                        f" and has {attached} container(s) attached: not recreated, recreate it "
                        "by hand once they are stopped"
                        if attached
                        else ""
                    )
                )
        for container in client.containers.list(all=True):
            project = container.labels.get("com.docker.compose.project")
            if project in self.service.compose_projects and container.status != "running":
                problems.append(f"container {container.name} ({project}) is {container.status}")
        return problems

    def semantic_diff(
        self, old: StagedArtifact | None, new: StagedArtifact | None
    ) -> dict[str, Any]:
        """Networks added and removed, and the fields that changed in the others."""
        before = {spec["Name"]: spec for spec in (self._snapshot(old) if old else [])}
        after = {spec["Name"]: spec for spec in (self._snapshot(new) if new else [])}
        changes: dict[str, Any] = {}
        for name in sorted(set(before) | set(after)):
            if name not in before:
                changes[f"network {name}"] = "added"
            elif name not in after:
                changes[f"network {name}"] = "removed"
            else:
                fields = {
                    field: f"{before[name].get(field)} -> {after[name].get(field)}"
                    for field in SPEC_FIELDS
                    if before[name].get(field) != after[name].get(field)
                }
                if fields:
                    changes[f"network {name}"] = fields
        return changes

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        return {
            spec["Name"]: {
                "driver": spec["Driver"],
                "subnets": [str(subnet) for subnet in subnets(spec)],
                "internal": spec.get("Internal", False),
                "ipv6": spec.get("EnableIPv6", False),
            }
            for spec in self._snapshot(staged)
        }
