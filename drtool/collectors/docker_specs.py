"""What a docker network spec from a snapshot may ask of the restoring host.

A spec goes to the Engine API's ``/networks/create`` whole, and any host of the fleet can write
a snapshot: so every field is type-checked as it is read (``read_specs``, exit 14 otherwise), and
before anything is created the spec is held to allow-lists (``spec_problems``): the bridge and
overlay drivers; macvlan and ipvlan only on a parent interface the operator names in
``[restore] network_parents``; known driver options with sane values; the default IPAM driver.
A subnet must overlap neither the networks that stay nor the host's own routes
(``route_problems``, from ``ip -j route`` in the host's network namespace).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from drtool.errors import IntegrityError
from drtool.jsonfields import Fields
from drtool.runner import Runner

SPEC_FIELDS = (
    "Name",
    "Driver",
    "EnableIPv4",
    "EnableIPv6",
    "IPAM",
    "Internal",
    "Attachable",
    "Ingress",
    "ConfigFrom",
    "ConfigOnly",
    "Options",
    "Labels",
)
_FLAGS = ("EnableIPv4", "EnableIPv6", "Internal", "Attachable", "Ingress", "ConfigOnly")
_NETWORK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_INTERFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_BOOLEAN = re.compile(r"true|false")
_DIGITS = re.compile(r"\d{1,6}")
_ADDRESS = re.compile(r"[0-9A-Fa-f.:]{2,45}")
PARENT_DRIVERS = frozenset({"macvlan", "ipvlan"})
ALLOWED_DRIVERS = frozenset({"bridge", "overlay", *PARENT_DRIVERS})
# Driver options a snapshot may set, each with the shape of its value.
ALLOWED_OPTIONS: dict[str, re.Pattern[str]] = {
    "com.docker.network.bridge.name": _INTERFACE,
    "com.docker.network.bridge.enable_icc": _BOOLEAN,
    "com.docker.network.bridge.enable_ip_masquerade": _BOOLEAN,
    "com.docker.network.bridge.inhibit_ipv4": _BOOLEAN,
    "com.docker.network.bridge.host_binding_ipv4": _ADDRESS,
    # not nat-unprotected: it turns off the filtering of the containers' ports
    "com.docker.network.bridge.gateway_mode_ipv4": re.compile(r"nat|routed"),
    "com.docker.network.bridge.gateway_mode_ipv6": re.compile(r"nat|routed"),
    "com.docker.network.driver.mtu": _DIGITS,
    "com.docker.network.container_iface_prefix": re.compile(r"[a-z]{1,8}"),
    "com.docker.network.enable_ipv4": _BOOLEAN,
    "com.docker.network.enable_ipv6": _BOOLEAN,
    "encrypted": re.compile(r"|true"),
    "parent": _INTERFACE,
    "macvlan_mode": re.compile(r"bridge|private|vepa|passthru"),
    "ipvlan_mode": re.compile(r"l2|l3|l3s"),
    "ipvlan_flag": re.compile(r"bridge|private|vepa"),
}


def read_specs(output: bytes) -> list[dict[str, Any]]:
    """The network specs a snapshot holds, every field type-checked; raise IntegrityError."""
    try:
        document = json.loads(output)
    except ValueError:
        raise IntegrityError("docker networks of the snapshot are not readable JSON") from None
    if not isinstance(document, list):
        raise IntegrityError("docker networks of the snapshot are malformed (not a list)")
    return [
        _checked(Fields(item, f"docker network #{index}")) for index, item in enumerate(document)
    ]


def _checked(fields: Fields) -> dict[str, Any]:
    spec = fields.document
    unknown = sorted(set(spec) - set(SPEC_FIELDS))
    if unknown:
        raise IntegrityError(f"{fields.where} is malformed: unknown field {unknown[0]!r}")
    fields.where = f"docker network {fields.string('Name', _NETWORK_NAME)}"
    fields.string("Driver")
    for flag in _FLAGS:
        if flag in spec:
            fields.boolean(flag)
    fields.string_map("Options")
    fields.string_map("Labels")
    if spec.get("ConfigFrom") is not None:
        Fields(spec["ConfigFrom"], f"{fields.where} ConfigFrom").optional_string("Network")
    ipam = Fields(spec.get("IPAM") or {}, f"{fields.where} IPAM")
    ipam.optional_string("Driver")
    ipam.string_map("Options")
    for entry in ipam.objects("Config") if "Config" in ipam.document else []:
        for key in ("Subnet", "IPRange"):
            _parse(entry, key, ipaddress.ip_network)
        _parse(entry, "Gateway", ipaddress.ip_address)
        for address in entry.string_map("AuxiliaryAddresses").values():
            _parse_value(entry, "AuxiliaryAddresses", address, ipaddress.ip_address)
    return spec


def _parse(fields: Fields, key: str, parse: Any) -> None:
    value = fields.optional_string(key)
    if value:
        _parse_value(fields, key, value, parse)


def _parse_value(fields: Fields, key: str, value: str, parse: Any) -> None:
    try:
        parse(value) if parse is ipaddress.ip_address else parse(value, strict=False)
    except ValueError:
        raise IntegrityError(f"{fields.where} is malformed: {key} {value!r}") from None


def subnets(spec: dict[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(entry["Subnet"], strict=False)
        for entry in (spec.get("IPAM") or {}).get("Config") or []
        if entry.get("Subnet")
    ]


def spec_problems(spec: dict[str, Any], network_parents: Collection[str]) -> list[str]:
    """What in a (type-checked) spec this host does not allow; empty when it may be created."""
    name, driver = spec["Name"], spec["Driver"]
    options = spec.get("Options") or {}
    problems = []
    config_only = spec.get("ConfigOnly") and driver == "null"
    if driver not in ALLOWED_DRIVERS and not config_only:
        problems.append(f"docker network {name}: driver {driver!r} is not allowed")
    for key, value in sorted(options.items()):
        shape = ALLOWED_OPTIONS.get(key)
        if shape is None:
            problems.append(f"docker network {name}: option {key!r} is not allowed")
        elif not shape.fullmatch(value):
            problems.append(f"docker network {name}: option {key}={value!r} is not allowed")
    parent = options.get("parent")
    needs_parent = (driver in PARENT_DRIVERS and not spec.get("ConfigFrom")) or parent is not None
    if needs_parent and parent not in network_parents:
        problems.append(
            f"docker network {name}: {driver} on parent {parent or '(none)'} needs the "
            "parent listed in [restore] network_parents"
        )
    ipam = spec.get("IPAM") or {}
    if ipam.get("Driver") not in (None, "", "default"):
        problems.append(f"docker network {name}: IPAM driver {ipam['Driver']!r} is not allowed")
    if ipam.get("Options"):
        problems.append(f"docker network {name}: IPAM options are not allowed")
    return problems


@dataclass(frozen=True)
class Route:
    destination: ipaddress.IPv4Network | ipaddress.IPv6Network
    device: str


def host_routes(runner: Runner) -> list[Route]:
    """Every route of the host's network namespace (all tables, both families), except default
    routes and link-local and multicast ones, which no docker subnet can take."""
    routes = []
    for family in ("-4", "-6"):
        listed = json.loads(
            runner.run(["ip", "-j", family, "route", "show", "table", "all"], in_netns=True)
            or b"[]"
        )
        for route in listed:
            destination = route.get("dst", "default")
            if destination == "default" or route.get("type") in ("broadcast", "multicast"):
                continue
            network = ipaddress.ip_network(destination, strict=False)
            if network.is_link_local or network.is_multicast:
                continue
            routes.append(Route(network, route.get("dev", "")))
    return routes


def docker_devices(inspected: Iterable[dict[str, Any]]) -> set[str]:
    """The host interfaces of docker's bridge networks (their routes are docker's own)."""
    devices = set()
    for network in inspected:
        if network.get("Driver") == "bridge":
            options = network.get("Options") or {}
            devices.add(options.get("com.docker.network.bridge.name") or f"br-{network['Id'][:12]}")
    return devices


def host_interfaces(runner: Runner) -> set[str]:
    """The names of the host's network interfaces (in its network namespace)."""
    try:
        listed = json.loads(runner.run(["ip", "-j", "link", "show"], in_netns=True) or b"[]")
    except ValueError:
        return set()
    return {str(link.get("ifname", "")) for link in listed if isinstance(link, dict)}


def bridge_name_problems(
    specs: Sequence[dict[str, Any]], interfaces: Collection[str], docker_owned: Collection[str]
) -> list[str]:
    """Snapshot bridges named after an interface of the host that is not docker's own (docker
    would enslave containers to the host's LAN or VPN interface)."""
    problems = []
    for spec in specs:
        name = (spec.get("Options") or {}).get("com.docker.network.bridge.name")
        if name and name in interfaces and name not in docker_owned:
            problems.append(
                f"docker network {spec['Name']}: bridge name {name} is an interface of this host"
            )
    return problems


def route_problems(
    specs: Sequence[dict[str, Any]], routes: Sequence[Route], docker_owned: Collection[str]
) -> list[str]:
    """Snapshot subnets that overlap a route of the host (not one of docker's own bridges)."""
    problems = []
    for spec in specs:
        for subnet in subnets(spec):
            for route in routes:
                if route.device in docker_owned or route.destination.version != subnet.version:
                    continue
                if subnet.overlaps(route.destination):
                    problems.append(
                        f"docker network {spec['Name']}: subnet {subnet} overlaps the host's "
                        f"route {route.destination} (dev {route.device})"
                    )
    return problems
