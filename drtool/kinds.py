"""The registry of every kind drtool knows: its name, its collector and its place in the
restore order. ``config.ALL_KINDS`` and ``collectors_for`` both read this one table.

Networks first (nginx upstreams and binds depend on them), the firewall late (it can cut the
operator off; iptables and nftables are one firewall, side by side), fail2ban after it (its
chains land in the final INPUT). A collector is imported when first built, so the settings can
name the kinds without importing every collector.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drtool.collectors.base import Collector
    from drtool.config import ServiceSettings, Settings


@dataclass(frozen=True)
class Kind:
    """One kind: ``location`` is ``module:Class``; ``build`` makes it from the settings."""

    name: str
    location: str
    build: Callable[[Any, Settings], Collector]

    def collector_class(self) -> type[Collector]:
        module, _, name = self.location.partition(":")
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]

    def collector(self, settings: Settings) -> Collector:
        return self.build(self.collector_class(), settings)


def _tree(name: str) -> Callable[[Any, Settings], Collector]:
    """A kind read as a directory tree with a service of its own (nginx, WireGuard, …)."""
    return lambda cls, settings: cls(settings.tree_paths[name], settings.service(name))


def _nftables_service(settings: Settings) -> ServiceSettings:
    """iptables and nftables are one firewall: without a probe of its own, nftables' switch is
    confirmed by the iptables probe ([services.iptables] health_command)."""
    own = settings.service("nftables")
    if own.health_command:
        return own
    return dataclasses.replace(own, health_command=settings.service("iptables").health_command)


REGISTRY: tuple[Kind, ...] = (
    Kind(
        "docker_networks",
        "drtool.collectors.docker_networks:DockerNetworksCollector",
        lambda cls, settings: cls(settings.service("docker_networks"), settings.network_parents),
    ),
    Kind("wireguard", "drtool.collectors.wireguard:WireguardCollector", _tree("wireguard")),
    Kind("nginx", "drtool.collectors.nginx:NginxCollector", _tree("nginx")),
    Kind(
        "iptables",
        "drtool.collectors.iptables:IptablesCollector",
        lambda cls, settings: cls(
            settings.iptables_backend, settings.runtime_chains, settings.service("iptables")
        ),
    ),
    Kind(
        "nftables",
        "drtool.collectors.nftables:NftablesCollector",
        lambda cls, settings: cls(
            settings.nftables_conf, settings.runtime_tables, _nftables_service(settings)
        ),
    ),
    Kind("fail2ban", "drtool.collectors.fail2ban:Fail2banCollector", _tree("fail2ban")),
    Kind(
        "files",
        "drtool.collectors.files:FilesCollector",
        lambda cls, settings: cls(settings.files),
    ),
)

ALL_KINDS: tuple[str, ...] = tuple(kind.name for kind in REGISTRY)


def kind(name: str) -> Kind:
    """The registered kind called ``name``; KeyError for one drtool does not know."""
    for entry in REGISTRY:
        if entry.name == name:
            return entry
    raise KeyError(name)
