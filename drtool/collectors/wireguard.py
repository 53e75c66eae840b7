"""WireGuard: the /etc/wireguard tree; private keys keep their 0600 mode."""

from __future__ import annotations

from drtool.collectors.base import PathsCollector


class WireguardCollector(PathsCollector):
    def __init__(self, path: str = "/etc/wireguard") -> None:
        super().__init__("wireguard", (path,))
