"""The restore engine's failure matrix, on a host with every kind live.

For each kind and each step of a restore (validate, apply, restart, health-check, rollback) a
failure is injected where the real world puts it: a tool that fails (a shim first in PATH), the
Engine API answering 500 (a proxy in front of the test dockerd), a full disk (a small tmpfs), or
the restore itself killed (SIGKILL at a journal step). Afterwards the host is compared with what
it was before: every file (content, mode, owner, mtime, link), iptables-save and ip6tables-save
in the test namespace, the live WireGuard interface, the docker networks, and what nginx and
fail2ban answer. It must be identical, or in the snapshot's state after --resume.

Cells the matrix leaves to the per-kind tests, and why: plain files have no tool to validate,
restart or check them with; the firewall's restart is its apply; nginx's health check is an HTTP
request, failed for real by a snapshot whose site answers 503 (tests/integration/test_nginx.py).

Every case starts from the damaged host the previous one left: a module-wide host keeps the
suite fast (services start once), and a case that leaves the host changed fails the next too.
The cases fall in three groups of about the same time (a step fails; the rollback fails, or the
disk is full; drtool killed), which pytest-xdist (scripts/test) hands out as any other group,
each worker with a live host of its own: a whole matrix on one worker, or half of it, would
leave the other idle at the end of the run.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.support.advice import advised, follow
from tests.support.dockerd import Dockerd
from tests.support.faults import drill_namespaces_left
from tests.support.live_host import FIREWALL_TABLES, WG_IFNAME, LiveHost, differences, live_host
from tests.support.processes import processes_running

pytestmark = [
    pytest.mark.slow,
    pytest.mark.real_parts("nginx", "fail2ban", "wireguard", "iptables", "dockerd", "netns"),
]


# pytest-xdist's groups (--dist loadgroup): one live host per group and worker.
FAILING_STEPS = pytest.mark.xdist_group("failure matrix: failing steps")
FAILING_ROLLBACK = pytest.mark.xdist_group("failure matrix: failing rollback, full disk")
KILLED = pytest.mark.xdist_group("failure matrix: drtool killed")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, dockerd: Dockerd) -> Iterator[LiveHost]:
    with live_host(tmp_path_factory.mktemp("live"), dockerd, EXAMPLES / "host") as host:
        host.cli("init")
        host.good = host.state()
        host.cli("backup")
        host.damage()
        yield host


@pytest.fixture
def host(live: LiveHost) -> Iterator[LiveHost]:
    """The live host, damaged, with no fault left from the case before, and no watchdog."""
    live.faults.clear()
    live.docker_faults.clear()
    yield live
    live.faults.clear()
    live.docker_faults.clear()
    deadline = time.monotonic() + 2  # a confirmed watchdog notices within 0.2 s
    while processes_running("-m", "drtool.deadman", then_under=live.root):
        assert time.monotonic() < deadline, "a dead-man's switch was left armed"
        time.sleep(0.1)


def firewall_restore(host: LiveHost) -> str:
    """The restore tool of the backend the snapshot was taken with (iptables-nft-restore…)."""
    version = subprocess.run(["iptables", "--version"], capture_output=True, text=True).stdout
    return f"iptables-{'legacy' if '(legacy)' in version else 'nft'}-restore"


@dataclass(frozen=True)
class Case:
    kind: str
    step: str
    inject: Callable[[LiveHost], None]
    said: str  # what the one-line error names


# -- validate: refused (22), nothing changed, not even the journal written ---------------------

REFUSED = [
    Case(
        "docker_networks",
        "validate",
        lambda h: h.docker_faults.fail("GET", r"/networks$"),
        "docker",
    ),
    # nginx, WireGuard and fail2ban are checked in bubblewrap's sandbox, where no shim is:
    # the fault strikes the sandbox's command line instead.
    Case(
        "wireguard",
        "validate",
        lambda h: h.faults.fail("bwrap", "setconf"),
        f"wireguard {WG_IFNAME}.conf",
    ),
    Case("nginx", "validate", lambda h: h.faults.fail("bwrap", r"nginx -t\b"), "nginx -t"),
    Case(
        "iptables",
        "validate",
        lambda h: h.faults.fail(firewall_restore(h), "^$"),
        "iptables v4",
    ),
    Case("nftables", "validate", lambda h: h.faults.fail("nft", r"^-c -f -$"), "nftables"),
    Case(
        "fail2ban",
        "validate",
        lambda h: h.faults.fail("bwrap", r"fail2ban-client .* -t$"),
        "fail2ban",
    ),
]


@FAILING_STEPS
@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.kind)
def test_a_failing_validation_refuses_and_changes_nothing(host: LiveHost, case: Case) -> None:
    before = host.state()
    case.inject(host)
    error = host.cli("restore", "--yes", expect=22).stderr
    assert "nothing changed" in error and case.said in error
    assert differences(host.state(), before) == []
    assert not (host.root / "var/lib/drtool/restore/journal.json").exists()


# -- apply, restart, health-check: rolled back (23), the host as it was --------------------------

ROLLED_BACK = [
    Case(
        "docker_networks",
        "apply",
        lambda h: h.docker_faults.fail("POST", r"/networks/create$"),
        "docker",
    ),
    Case(
        "iptables",
        "apply",
        # the second table fails: the first one is already live, and must go back too
        lambda h: h.faults.fail(firewall_restore(h), "-w", skip=1),
        "failure injected",
    ),
    # the first "nft -f -" is validation's load into a throwaway namespace; the second, the apply
    Case("nftables", "apply", lambda h: h.faults.fail("nft", r"^-f -$", skip=1), "nft"),
    Case(
        "docker_networks",
        "restart",
        lambda h: h.docker_faults.fail("POST", r"/containers/.*/restart$"),
        "docker",
    ),
    Case("wireguard", "restart", lambda h: h.faults.fail("wg", "syncconf"), "wg syncconf"),
    Case("nginx", "restart", lambda h: h.faults.fail("nginx", "-s reload"), "reload"),
    Case("fail2ban", "restart", lambda h: h.faults.fail("fail2ban-client", "reload"), "reload"),
    Case(
        "docker_networks",
        "health",
        # containers are listed once by the restart, then by the health check
        lambda h: h.docker_faults.fail("GET", r"/containers/json$", skip=1),
        "docker",
    ),
    Case("wireguard", "health", lambda h: h.faults.fail("wg", "showconf"), "showconf"),
    Case("iptables", "health", lambda h: h.faults.fail("iptables", r"^-C INPUT"), "probe"),
    Case("nftables", "health", lambda h: h.faults.fail("nft", r"^list set inet hostfw"), "probe"),
    # skip=1: the first ping is the state taken before the restore (a service down before is
    # started, and no reason to roll back)
    Case(
        "fail2ban",
        "health",
        lambda h: h.faults.fail("fail2ban-client", "ping", skip=1),
        "fail2ban",
    ),
]


@FAILING_STEPS
@pytest.mark.parametrize("case", ROLLED_BACK, ids=lambda case: f"{case.step}-{case.kind}")
def test_a_failure_after_validation_is_rolled_back(host: LiveHost, case: Case) -> None:
    before = host.state()
    case.inject(host)
    error = host.cli("restore", "--yes", expect=23).stderr
    assert "rolled back" in error and case.said in error
    assert differences(host.state(), before) == []


@FAILING_ROLLBACK
@pytest.mark.parametrize("kind", ["wireguard", "nginx", "fail2ban", "files"])
def test_a_full_disk_while_applying_a_kind_is_rolled_back(host: LiveHost, kind: str) -> None:
    """The host's /etc is a small tmpfs, filled to the last page."""
    before = host.state()
    filler = host.root / "etc/filler"
    try:
        fill(filler)
        error = host.cli("restore", "--only", kind, "--yes", expect=23).stderr
        assert "disk full" in error
    finally:
        filler.unlink(missing_ok=True)
    assert differences(host.state(), before) == []


@FAILING_ROLLBACK
def test_a_full_disk_under_the_journal_stops_the_restore_before_it_starts(host: LiveHost) -> None:
    """No room for the journal, the staged copy or the rollback point: nothing may change."""
    before = host.state()
    journal = host.root / "var/lib/drtool"
    journal.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(journal)], check=True)
    try:
        fill(journal / "filler")
        lines = host.cli("restore", "--yes", expect=26, one_line=False).stderr.splitlines()
        assert "restore not started, nothing changed: disk full" in lines[-1]
        # Before it, at most: no room either to record the snapshots this machine has seen.
        assert all("could not record what this machine saw" in line for line in lines[:-1])
    finally:
        subprocess.run(["umount", "-l", str(journal)], check=True)
    assert differences(host.state(), before) == []


def fill(path: Path) -> None:
    """Write zeros to ``path`` until its file system is full."""
    with path.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass


# -- rollback: a failing rollback is reported (24), and --rollback finishes it ------------------


def fail2ban_health_fails_once(host: LiveHost) -> None:
    """The trigger: fail2ban, the last service checked, fails its health check once (after
    the ping that took its state before the restore)."""
    host.faults.fail("fail2ban-client", "ping", skip=1)


ROLLBACK_FAILS = [
    Case(
        "docker_networks",
        "rollback",
        lambda h: h.docker_faults.fail("DELETE", r"/networks/"),
        "docker_networks",
    ),
    Case("wireguard", "rollback", lambda h: h.faults.fail("wg", "syncconf", skip=1), "wireguard"),
    Case("nginx", "rollback", lambda h: h.faults.fail("nginx", "-s reload", skip=1), "nginx"),
    Case(
        "iptables",
        "rollback",
        lambda h: h.faults.fail(firewall_restore(h), "-w", skip=FIREWALL_TABLES),
        "iptables",
    ),
    Case("nftables", "rollback", lambda h: h.faults.fail("nft", r"^-f -$", skip=2), "nftables"),
    Case(
        "fail2ban",
        "rollback",
        lambda h: h.faults.fail("fail2ban-client", "reload", skip=1),
        "fail2ban",
    ),
]


@FAILING_ROLLBACK
@pytest.mark.parametrize("case", ROLLBACK_FAILS, ids=lambda case: case.kind)
def test_a_failing_rollback_says_what_to_do_and_rollback_finishes_it(
    host: LiveHost, case: Case
) -> None:
    before = host.state()
    fail2ban_health_fails_once(host)
    case.inject(host)
    completed = host.cli("restore", "--yes", "--json", expect=24, one_line=False)
    report = json.loads(completed.stdout)
    assert report["outcome"] == "rollback incomplete"
    assert f"{case.said}:" in completed.stderr.strip().splitlines()[-1]
    # The operator fixes what failed, and finishes the rollback as advised.
    host.faults.clear()
    host.docker_faults.clear()
    refused = host.cli("restore", "--yes", expect=25).stderr
    assert advised(refused)[:2] == advised("; ".join(report["operator_actions"]))[:2]
    follow(host.cli, "; ".join(report["operator_actions"]), "--rollback")
    assert differences(host.state(), before) == []


# -- the restore itself killed: --rollback returns the host as it was, --resume finishes --------

# The journal steps of this restore, but for those between two steps of the same plain-file kind
# (tests/e2e/test_restore_engine.py kills a files-only restore at every one of its steps).
KILLED_AT = [
    "validated",
    "captured",
    "applying docker_networks",
    "applied docker_networks",
    "applied wireguard",
    "applying iptables",  # the dead-man's switch is armed
    "applied iptables",
    "applying nftables",  # its own switch is armed
    "applied nftables",
    "applying fail2ban",
    "applied files",
    "verifying",
    "restarted docker_networks",
    "healthy wireguard",
    "restarted nginx",
    "healthy iptables",
    "healthy nftables",
    "healthy fail2ban",
]


@KILLED
@pytest.mark.parametrize("step", KILLED_AT)
def test_killed_at_a_step_rollback_returns_the_host_as_it_was(host: LiveHost, step: str) -> None:
    before = host.state()
    host.cli.restore_killed_at(step)
    host.cli("restore", "--rollback", "--yes")
    assert differences(host.state(), before) == []


@KILLED
@pytest.mark.parametrize(
    "step", ["rolling back", "rolled back fail2ban", "rolled back nftables", "rolled back iptables"]
)
def test_killed_while_rolling_back_rollback_finishes(host: LiveHost, step: str) -> None:
    """The rollback itself is killed: before it starts, and half-way."""
    before = host.state()
    fail2ban_health_fails_once(host)
    host.cli.restore_killed_at(step)
    follow(host.cli, host.cli("restore", "--resume", "--yes", expect=2).stderr, "--rollback")
    assert differences(host.state(), before) == []


@KILLED
@pytest.mark.parametrize("firewall", ["iptables", "nftables"])
def test_killed_with_the_firewall_applied_the_switch_brings_the_old_rules_back(
    host: LiveHost, firewall: str
) -> None:
    """drtool dies (a dropped SSH session, a killed pod) right after the new rules went live,
    before its probe could confirm them: the watchdog puts the old rules back on its own, and
    --rollback later finds the firewall already as it was and returns the rest."""
    before = host.state()
    host.cli.restore_killed_at(f"applied {firewall}", "--confirm-timeout", "2")
    assert host.state()[firewall] != before[firewall]
    deadline = time.monotonic() + 15
    while host.state()[firewall] != before[firewall]:
        assert time.monotonic() < deadline, "the dead-man's switch never fired"
        time.sleep(0.3)
    host.cli("restore", "--rollback", "--yes")
    assert differences(host.state(), before) == []


@KILLED
@pytest.mark.parametrize("step", ["applying iptables", "restarted wireguard"])
def test_killed_at_a_step_resume_finishes_in_the_snapshots_state(host: LiveHost, step: str) -> None:
    host.cli.restore_killed_at(step)
    report = json.loads(host.cli("restore", "--resume", "--yes", "--json").stdout)
    assert report["outcome"] == "applied and verified"
    assert "confirmed by the connectivity probe" in report["firewall"]
    assert differences(host.state(), host.good) == []
    host.damage()  # the next case starts from the damaged host again


@FAILING_ROLLBACK
def test_the_whole_restore_succeeds_and_a_dry_run_before_it_changes_nothing(
    host: LiveHost,
) -> None:
    before = host.state()
    plan = json.loads(host.cli("restore", "--dry-run", "--json").stdout)
    assert differences(host.state(), before) == []
    assert plan
    report = json.loads(host.cli("restore", "--yes", "--json").stdout)
    assert report["outcome"] == "applied and verified"
    assert report["restored"] == [
        "docker_networks",
        "wireguard",
        "nginx",
        "iptables",
        "nftables",
        "fail2ban",
        "files",
    ]
    assert differences(host.state(), host.good) == []
    host.damage()


@FAILING_ROLLBACK
def test_a_drill_restores_every_kind_into_a_sandbox_and_changes_nothing(
    host: LiveHost, tmp_path: Path
) -> None:
    """Every configuration complete: validated by the real tools, files installed under a
    sandbox root, the firewall restored into a namespace of the drill's own and compared; the
    live host, its services, its firewall and its docker networks untouched."""
    before = host.state()
    metrics = tmp_path / "drtool.prom"
    host.faults.record("ip")
    report = json.loads(host.cli("drill", "--json", "--metrics", str(metrics)).stdout)
    assert report["outcome"] == "passed" and report["problems"] == []
    assert report["kinds"] == {
        "docker_networks": "validated (its state cannot be sandboxed)",
        **{
            kind: "restored and verified"
            for kind in ("wireguard", "nginx", "iptables", "nftables", "fail2ban", "files")
        },
    }
    assert report["seconds"]["total"] > 0
    assert 'drtool_drill_success{host="web-1"} 1' in metrics.read_text()
    assert differences(host.state(), before) == []
    assert drill_namespaces_left(host.faults) == []
