"""fail2ban: the /etc/fail2ban tree (jail.local, filters, actions)."""

from __future__ import annotations

from drtool.collectors.base import PathsCollector


class Fail2banCollector(PathsCollector):
    def __init__(self, path: str = "/etc/fail2ban") -> None:
        super().__init__("fail2ban", (path,))
