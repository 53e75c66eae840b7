"""The restore engine as an operator meets it during an incident: a kill at every journal step,
failing services, a full disk, a second restore, the firewall's dead-man's switch. After each,
the host is byte-identical to before, or in the snapshot's state after --resume."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, owned_listing
from tests.support.advice import follow
from tests.support.netns import run_in
from tests.support.processes import processes_running

FILE_KINDS = ("wireguard", "nginx", "fail2ban", "files")
# Every journal step of a files-only restore of the sample host, in order.
STEPS = [
    "validated",
    "captured",
    *[f"{verb} {kind}" for kind in FILE_KINDS for verb in ("applying", "applied")],
    "verifying",
]


def host_root(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_ROOT"])


def damage(root: Path) -> None:
    """The incident: the bad edit drtool is asked to undo."""
    (root / "etc/nginx/nginx.conf").write_text("events {\n")
    (root / "etc/nginx/sites-enabled/rogue").write_text("server {}\n")
    (root / "etc/wireguard/wg0.conf").unlink()
    (root / "etc/redis/redis.conf").write_text("protected-mode no\n")


@pytest.fixture
def incident(backed_up: Cli) -> Iterator[tuple[dict, dict]]:
    """A repository with a snapshot of the sample host, then the host damaged.

    Yields the listing of the snapshot's state and of the damaged state.
    """
    root = host_root(backed_up)
    good = owned_listing(root)
    damage(root)
    yield good, owned_listing(root)


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_any_step_rollback_returns_the_host_as_it_was(
    cli: Cli, incident: tuple[dict, dict], step: str
) -> None:
    _, damaged = incident
    cli.restore_killed_at(step)
    refused = cli("restore", "--yes", expect=25).stderr
    done = follow(cli, refused, "--rollback").stdout  # the advice, run as printed
    assert done.startswith(("rolled back", "nothing to roll back"))
    assert owned_listing(host_root(cli)) == damaged


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_any_step_resume_finishes_the_restore(
    cli: Cli, incident: tuple[dict, dict], step: str
) -> None:
    good, damaged = incident
    cli.restore_killed_at(step)
    refused = cli("restore", "--yes", expect=25).stderr
    if follow(cli, refused, "--resume").stdout.startswith("nothing to resume"):
        assert owned_listing(host_root(cli)) == damaged
        cli("restore", "--yes")
    assert owned_listing(host_root(cli)) == good


def test_a_full_disk_mid_restore_is_rolled_back(cli: Cli) -> None:
    """The host's /etc on a small tmpfs: the new nginx tree does not fit beside the old one."""
    root = host_root(cli)
    (root / "etc/nginx/geo.map").write_bytes(b"10.0.0.0/8 internal;\n" * 50_000)  # ~1 MiB
    cli("init")
    cli("backup")
    (root / "etc/nginx/nginx.conf").write_text("events {\n")
    saved = root.parent / "etc-saved"
    shutil.copytree(root / "etc", saved, symlinks=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(root / "etc")], check=True
    )
    try:
        shutil.copytree(saved, root / "etc", symlinks=True, dirs_exist_ok=True)
        shutil.copystat(saved, root / "etc")
        (root / "etc/filler").write_bytes(b"\0" * (600 * 1024))
        before = owned_listing(root)
        error = cli("restore", "--yes", expect=23).stderr
        assert "rolled back" in error and "disk full" in error
        assert owned_listing(root) == before
    finally:
        subprocess.run(["umount", "-l", str(root / "etc")], check=False)


def test_the_pre_restore_snapshot_holds_the_state_from_before(
    cli: Cli, incident: tuple[dict, dict], netns: str
) -> None:
    """With --netns the restore manages the host's state, and saves it first as a snapshot
    that latest and --date never pick, but that can be restored by its id. (The sample's nginx
    and fail2ban trees are partial: their real tools would refuse them, rightly.)"""
    _, damaged = incident
    cli.environment["DRTOOL_NETNS"] = netns
    report = json.loads(cli("restore", "--only", "wireguard,files", "--yes", "--json").stdout)
    pre_restore = report["pre_restore_snapshot"]
    assert "-pre-" in pre_restore
    listed = [item["id"] for item in json.loads(cli("snapshots", "--json").stdout)]
    assert pre_restore in listed and listed[-1] == pre_restore
    cli("restore", pre_restore, "--yes")
    assert owned_listing(host_root(cli)) == damaged
    assert cli("show", "latest", "--json").stdout.count(pre_restore) == 0


def test_the_firewall_comes_back_unless_confirmed(cli: Cli, netns: str) -> None:
    """No connectivity probe and nobody confirming: the watchdog restores the old rules."""
    open_ssh = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    cut_off = "*filter\n:INPUT DROP [0:0]\nCOMMIT\n"
    cli.environment.update(DRTOOL_NETNS=netns)
    run_in(netns, "iptables-restore", input_text=cut_off)
    cli("init")
    cli("backup")
    run_in(netns, "iptables-restore", input_text=open_ssh)
    # The snapshot would cut the operator off; nobody confirms.
    report = json.loads(
        cli("restore", "--only", "iptables", "--yes", "--json", "--confirm-timeout", "2").stdout
    )
    assert "awaiting confirmation" in report["firewall"]
    assert "--dport 22" not in run_in(netns, "iptables-save")
    deadline = time.monotonic() + 15
    while "--dport 22" not in run_in(netns, "iptables-save"):
        assert time.monotonic() < deadline, "the dead-man's switch never fired"
        time.sleep(0.2)
    # Confirming now is too late, and says when the old rules came back.
    late = cli("confirm", expect=32).stderr
    assert re.search(r"reverted at \d\d:\d\d:\d\d UTC", late), late

    # This time the operator confirms in time: the restored rules stay.
    # A long timeout (drtool confirm is a cold start, slow on a loaded machine); once confirmed,
    # the watchdog is gone, and nothing is left that could put the old rules back.
    restored = cli("restore", "--only", "iptables", "--yes", "--confirm-timeout", "120").stdout
    assert "stays" in follow(cli, restored, "confirm").stdout
    deadline = time.monotonic() + 10
    while processes_running("-m", "drtool.deadman", then_under=host_root(cli)):
        assert time.monotonic() < deadline, "the confirmed watchdog is still running"
        time.sleep(0.1)
    assert "--dport 22" not in run_in(netns, "iptables-save")
    assert "no restored firewall" in cli("confirm", expect=2).stderr
