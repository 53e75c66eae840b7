"""nginx: the /etc/nginx tree; links such as sites-enabled/* stay links."""

from __future__ import annotations

from drtool.collectors.base import PathsCollector


class NginxCollector(PathsCollector):
    def __init__(self, path: str = "/etc/nginx") -> None:
        super().__init__("nginx", (path,))
