"""The host being backed up or restored: its root directory, its name, its runner.

Every path drtool reads or writes on a host goes through :meth:`Host.path`, so a sandbox root
(tests, drills, ``--target``) needs no special case anywhere else.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from pathlib import Path

from drtool.errors import UnsafeArchive
from drtool.runner import Runner


@dataclass(frozen=True)
class Host:
    """``services``: whether restores validate, restart and health-check the services (None:
    for the real root or a sandbox given its own network namespace; a plain sandbox root gets
    files only, since the services a sandbox sees are the machine's own)."""

    root: Path
    name: str
    runner: Runner = field(default_factory=Runner)
    services: bool | None = None
    host_network: bool = False
    # Whether a snapshot's configuration may make this host run code of its own (an nginx
    # module, a WireGuard PostUp): --allow-hooks, or [restore] allow_hooks.
    allow_hooks: bool = False

    @property
    def manages_services(self) -> bool:
        return self.owns_network if self.services is None else self.services

    @property
    def owns_network(self) -> bool:
        """Whether the network state drtool sees (firewall, interfaces) is this host's: the
        real root, a sandbox root given its own network namespace, or a root said to share
        drtool's own network (a container with host networking and the host's /etc mounted)."""
        return (
            self.host_network or self.runner.netns is not None or self.root.resolve() == Path("/")
        )

    def __post_init__(self) -> None:
        # A sandbox root's services are its own: their commands run in its mount view.
        if self.runner.view_root is None and self.has_own_view:
            object.__setattr__(self, "runner", replace(self.runner, view_root=self.root))

    @property
    def has_own_view(self) -> bool:
        """Whether the host's services see its root's /etc, /run and /var rather than the
        machine's: a sandbox root (not a container root with the host's network)."""
        return not self.host_network and self.root.resolve() != Path("/")

    def view_path(self, live_path: str) -> Path:
        """Where a path, as the host's services see it (``/run/nginx.pid``), is on this
        machine: under the root for what its view shows of the root (/etc, /run, /var)."""
        if self.runner.view_root is not None and live_path.startswith(("/etc/", "/run/", "/var/")):
            return self.path(live_path.lstrip("/"))
        return Path(live_path)

    def path(self, relative: str) -> Path:
        """Return where the host path ``relative`` (e.g. ``etc/nginx``) lives under the root."""
        return self.root / relative

    def checked_parent(self, relative: str) -> Path:
        """Return the real directory that will hold ``relative``, creating it if needed.

        Raise UnsafeArchive if that directory resolves outside the root (a host symlink on the way).
        """
        parent = self.path(relative).parent
        parent.mkdir(parents=True, exist_ok=True)
        real_root = self.root.resolve()
        real_parent = parent.resolve()
        if real_parent != real_root and real_root not in real_parent.parents:
            raise UnsafeArchive(
                f"/{posixpath.dirname(relative)} resolves outside the host root; nothing written"
            )
        return real_parent
