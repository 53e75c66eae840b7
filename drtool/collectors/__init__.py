"""Every kind of configuration drtool knows, in restore order (the registry: drtool.kinds)."""

from __future__ import annotations

from drtool.collectors.base import Artifact, Collector
from drtool.config import Settings
from drtool.kinds import REGISTRY


def collectors_for(settings: Settings) -> list[Collector]:
    """Return the collectors the settings enable, in restore order (docs: DESIGN, restore)."""
    return [kind.collector(settings) for kind in REGISTRY if kind.name in settings.kinds]


__all__ = ["Artifact", "Collector", "collectors_for"]
