"""Every kind of configuration drtool knows, in restore order."""

from __future__ import annotations

from drtool.collectors.base import Artifact, Collector
from drtool.collectors.docker_networks import DockerNetworksCollector
from drtool.collectors.fail2ban import Fail2banCollector
from drtool.collectors.files import FilesCollector
from drtool.collectors.iptables import IptablesCollector
from drtool.collectors.nginx import NginxCollector
from drtool.collectors.wireguard import WireguardCollector
from drtool.config import Settings


def collectors_for(settings: Settings) -> list[Collector]:
    """Return the collectors the settings enable, in restore order (docs: DESIGN, restore)."""
    available: list[Collector] = [
        DockerNetworksCollector(settings.service("docker_networks"), settings.network_parents),
        WireguardCollector(settings.tree_paths["wireguard"], settings.service("wireguard")),
        NginxCollector(settings.tree_paths["nginx"], settings.service("nginx")),
        IptablesCollector(
            settings.iptables_backend, settings.runtime_chains, settings.service("iptables")
        ),
        Fail2banCollector(settings.tree_paths["fail2ban"], settings.service("fail2ban")),
        FilesCollector(settings.files),
    ]
    return [collector for collector in available if collector.kind in settings.kinds]


__all__ = ["Artifact", "Collector", "collectors_for"]
