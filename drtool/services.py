"""Restarting services and telling that they are healthy: what every service-backed kind shares.

How a service restarts comes from drtool.toml ([services.<kind>] restart), else systemctl where
systemd runs, else the service's own command.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from drtool.config import SERVICE_TIMEOUT, ServiceSettings

if TYPE_CHECKING:
    from drtool.collectors.base import Collector
from drtool.host import Host

# Where the drtool package is, for the probe child (``-I`` ignores the environment's paths).
_DRTOOL_PATH = str(Path(__file__).resolve().parent.parent)


def systemd_runs(host: Host) -> bool:
    """Whether systemd manages the machine (a sandbox root never counts)."""
    return host.root.resolve() == Path("/") and Path("/run/systemd/system").is_dir()


def restart_command(host: Host, service: ServiceSettings, systemctl: str, own: str) -> str:
    """The configured restart command, else ``systemctl``'s where systemd runs, else ``own``."""
    if service.restart:
        return service.restart
    return systemctl if systemd_runs(host) else own


def start_command(host: Host, service: ServiceSettings, unit: str, own: str) -> str:
    """How to start a service that is not running: the configured ``start``, else ``systemctl
    start`` where systemd runs, else ``own`` (a reload would fail: nothing to signal)."""
    if service.start:
        return service.start
    return f"systemctl start {unit}" if systemd_runs(host) else own


def stop_command(host: Host, service: ServiceSettings, unit: str, own: str) -> str:
    """How to stop a service: the configured ``stop``, else ``systemctl stop``, else ``own``."""
    if service.stop:
        return service.stop
    return f"systemctl stop {unit}" if systemd_runs(host) else own


def services_down(host: Host, kinds: Sequence[tuple[Collector, object]]) -> list[str]:
    """The kinds whose service is not running on the host now (taken before a restore)."""
    return [collector.kind for collector, _ in kinds if collector.running(host) is False]


def process_alive(pid: int | None) -> bool:
    return pid is not None and Path(f"/proc/{pid}").exists()


_PROBE = """
import sys
sys.path.insert(0, sys.argv[3])
from drtool.services import probe_url
problem = probe_url(sys.argv[1], float(sys.argv[2]))
print(problem or "", end="")
"""


def probe_url_from(host: Host, url: str, timeout: float = SERVICE_TIMEOUT) -> str | None:
    """Probe ``url`` from where the host's services run: its network namespace (with
    ``--netns``, a child in it asks), else drtool's own."""
    if host.runner.netns is None:
        return probe_url(url, timeout)
    answer = host.runner.run(
        [sys.executable, "-I", "-c", _PROBE, url, str(timeout), _DRTOOL_PATH],
        in_netns=True,
        timeout=timeout + 30,
        label=f"probe {url}",
    )
    return answer.decode(errors="replace").strip() or None


def probe_url(url: str, timeout: float = SERVICE_TIMEOUT) -> str | None:
    """Ask ``url`` until it answers below 400 or ``timeout`` passes; return the problem or None."""
    # urllib.request (http.client, email, ssl) loads here, not with every backup and restore.
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    problem = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status < 400:
                    return None
                problem = f"HTTP {answer.status}"
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            problem = str(getattr(error, "reason", error))
        time.sleep(0.2)
    return f"{url} did not answer in {timeout:g} s ({problem})"


def child_pids(pid: int) -> set[int]:
    """The children of a process (an nginx master's workers), from /proc."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children.update(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return children


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
