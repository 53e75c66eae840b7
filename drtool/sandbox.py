"""Running a service's own checker over a snapshot's configuration without trusting it.

A snapshot is untrusted input: its nginx.conf can ``load_module`` a library whose constructor
runs in ``nginx -t``, its fail2ban actions and WireGuard hooks are shell commands. So a checker
runs under bubblewrap in a view of its own:

- a fresh network namespace (``lo`` up, non-local binds allowed, so ``listen 203.0.113.5:443``
  binds as it would on the host that owns that address);
- a fresh root holding only the tool's system files (``/usr`` and its ``/lib``, ``/bin``,
  ``/sbin`` links, the few ``/etc`` files a program needs to start: users, groups, the loader's
  cache, alternatives) and the staged tree of the *whole* snapshot at its live paths, read-only
  (nginx sees the certificates that ``[files]`` holds, and none of this machine's);
- empty tmpfs where the tool writes (``/tmp``, ``/run``, its log and state directories): the
  machine's ``/var/log/nginx`` and ``/var/lib/nginx`` are not there to be written;
- ``/proc`` read-only (uid 0 may write the machine's sysctls without a capability);
- no environment but a search path and a locale, all capabilities dropped but the few the tool
  needs, resource limits (CPU time, file size, open files), a session of its own, killed with
  drtool.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drtool.errors import DrtoolError

# What a dynamically linked tool needs from /etc to start: nothing from the snapshot's host.
SYSTEM_ETC = (
    "passwd",
    "group",
    "nsswitch.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "hosts",
)
# Prepared before the tool starts, with drtool's own script: the namespace is fresh, so a
# failure here changes nothing outside it.
_NETWORK_SETUP = (
    "ip link set lo up 2>/dev/null; "
    "sysctl -qw net.ipv4.ip_nonlocal_bind=1 net.ipv6.ip_nonlocal_bind=1 2>/dev/null; "
    'exec "$@"'
)
# Resource limits of a checker: CPU time, the size of a file it writes, open files, no core.
_LIMITS = ("prlimit", "--cpu=120", "--fsize=67108864", "--nofile=1024", "--core=0", "--")
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SandboxUnavailable(DrtoolError):
    """bubblewrap is not installed: a snapshot's configuration is never checked without it."""


@dataclass(frozen=True)
class View:
    """A private mount view: ``binds`` maps a path of this machine to the live path it shows
    (read-only); ``writable`` are empty tmpfs; ``devices`` are device nodes passed through."""

    binds: tuple[tuple[Path, str], ...] = ()
    writable: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)

    def with_tool(
        self,
        binds: Iterable[tuple[Path, str]] = (),
        writable: Iterable[str] = (),
        capabilities: Iterable[str] = (),
        devices: Iterable[str] = (),
        environment: dict[str, str] | None = None,
    ) -> View:
        """This view, with what one tool needs besides (its own writable directories, …)."""
        return View(
            (*self.binds, *binds),
            (*self.writable, *writable),
            (*self.devices, *devices),
            (*self.capabilities, *capabilities),
            {**self.environment, **(environment or {})},
        )

    def shows(self, live_path: str) -> bool:
        """Whether ``live_path`` lies inside one of the bound trees."""
        return any(
            live_path == target or live_path.startswith(target.rstrip("/") + "/")
            for _, target in self.binds
        )


def staged_view(root: Path, relative_roots: Iterable[str]) -> View:
    """The view of a staged tree written under ``root`` (as a host root): each of its roots
    (``etc/nginx``, ``etc/ssl/certs/site.pem``) shown at its live path."""
    return View(
        tuple(
            (root / relative, f"/{relative}")
            for relative in sorted(set(relative_roots), key=lambda item: item.count("/"))
            if (root / relative).exists() or (root / relative).is_symlink()
        )
    )


def sandboxed(argv: Sequence[str], view: View) -> list[str]:
    """``argv`` wrapped to run in ``view``, in a fresh network namespace (see the module)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: a snapshot's configuration is only checked "
            "in a sandbox (apt-get install bubblewrap)"
        )
    arguments = [
        bwrap,
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in ("lib", "lib32", "lib64", "libx32", "bin", "sbin"):
        arguments += _system_link(name)
    arguments += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/etc"]
    for name in SYSTEM_ETC:
        arguments += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for directory in ("/tmp", "/run", *view.writable):
        arguments += ["--tmpfs", directory]
    for source, target in view.binds:
        arguments += ["--ro-bind", str(source), target]
    for device in view.devices:
        arguments += ["--dev-bind-try", device, device]
    # /proc read-only: a checker runs as uid 0, and the kernel lets uid 0 write root's
    # sysctls (kernel.core_pattern = "|program" runs a program as root on the host) without
    # any capability.
    arguments += ["--remount-ro", "/etc", "--remount-ro", "/proc", "--cap-drop", "ALL"]
    for capability in view.capabilities:
        arguments += ["--cap-add", capability]
    arguments += ["--clearenv", "--setenv", "PATH", SANDBOX_PATH, "--setenv", "LC_ALL", "C.UTF-8"]
    for name, value in view.environment.items():
        arguments += ["--setenv", name, value]
    return ["unshare", "--net", "sh", "-c", _NETWORK_SETUP, "sh", *_LIMITS, *arguments, "--", *argv]


def _system_link(name: str) -> list[str]:
    """Debian's merged /usr: ``/lib`` is a link into /usr, shown as the same link."""
    path = Path("/", name)
    if path.is_symlink():
        return ["--symlink", str(path.readlink()), str(path)]
    if path.is_dir():
        return ["--ro-bind", str(path), str(path)]
    return []


# What the services of a sandbox root need from the machine's /etc besides the loader's files:
# the sandbox root's own /etc entries are shown over these.
_HOST_ETC = (
    *SYSTEM_ETC,
    "protocols",
    "services",
    "ethertypes",
    "iproute2",
    "ssl",
    "ca-certificates",
    "resolv.conf",
    "host.conf",
    "gai.conf",
)


def in_host_view(root: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped to run in the mount view of the sandbox host at ``root``: the machine's
    files, but ``/etc`` (the few system files a program needs, then every entry of the root's
    own ``etc`` over them), ``/run`` and ``/var`` are the root's (an empty tmpfs where it has
    none). nginx there reads ``/etc/nginx`` and ``/run/nginx.pid`` of the sandbox, fail2ban its
    socket, wireguard-go makes its socket in the sandbox's ``/run/wireguard``: nothing reaches
    the machine's own services. Capabilities are kept: these are the host's own services."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: a sandbox root's services run only in its own "
            "mount view (apt-get install bubblewrap)"
        )
    arguments = [bwrap, *_machine_root(), "--dev-bind", "/dev", "/dev", "--proc", "/proc"]
    # No --die-with-parent: what starts here (nginx, wireguard-go) outlives drtool, as a
    # service does.
    arguments += _host_etc(root / "etc")
    if (root / "run").is_dir():
        arguments += ["--bind", str(root / "run"), "/run"]
    else:
        arguments += ["--tmpfs", "/run"]
    # /var: the root's entries over an empty one, where /var/run leads to the root's /run
    # (a drtool journal under var/lib is no reason to lose it).
    arguments += ["--tmpfs", "/var", *_entries(root / "var", "/var", skip={"run"})]
    arguments += ["--symlink", "../run", "/var/run"]
    return [*arguments, "--", *argv]


def _machine_root() -> list[str]:
    """The machine's top-level directories, bound one by one (links kept as links), but those
    the view replaces: binding / whole would also walk /run/netns, whose namespace mounts
    come and go under a recursive bind."""
    arguments: list[str] = []
    for entry in sorted(Path("/").iterdir()):
        if entry.name in ("run", "etc", "var", "proc", "dev"):
            continue
        if entry.is_symlink():
            arguments += ["--symlink", str(entry.readlink()), str(entry)]
        elif entry.is_dir():
            arguments += ["--bind", str(entry), str(entry)]
    return arguments


def _host_etc(own_etc: Path) -> list[str]:
    """A sandbox root's /etc: its own, whole, when it is a whole one (it has ``passwd``): a
    daemon started there then sees the directories a restore swaps in. Else the machine's
    few system files with each of the root's own entries over them."""
    if (own_etc / "passwd").is_file():
        return ["--bind", str(own_etc), "/etc"]
    arguments = ["--tmpfs", "/etc"]
    own = {entry.name for entry in own_etc.iterdir()} if own_etc.is_dir() else set()
    for name in _HOST_ETC:
        if name not in own:
            arguments += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return arguments + _entries(own_etc, "/etc")


def _entries(
    directory: Path, target: str, skip: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """Each entry of ``directory`` shown at ``target``/name: bound, or, for a link, the same
    link (binding a link would show what it points to on this machine)."""
    if not directory.is_dir():
        return []
    arguments: list[str] = []
    for entry in sorted(directory.iterdir()):
        if entry.name in skip:
            continue
        if entry.is_symlink():
            arguments += ["--symlink", str(entry.readlink()), f"{target}/{entry.name}"]
        else:
            arguments += ["--bind", str(entry), f"{target}/{entry.name}"]
    return arguments
