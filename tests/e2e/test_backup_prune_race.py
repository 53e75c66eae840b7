"""A backup racing a prune: the backup has decided to reuse objects already in the repository
(deduplication) and not yet written its manifest when a forget + prune removes the only
snapshot that referenced them. The backup is held at that moment by drtool's test point
(SIGSTOP), so the race is run deterministically, not left to timing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from drtool.testpoint import VARIABLE as TESTPOINT
from tests.conftest import Cli
from tests.e2e.test_cli import host_root

pytestmark = pytest.mark.xfail(
    strict=True,
    reason="bug: backups take no lock and reuse objects they found in the repository, so a "
    "forget + prune between the reuse and the manifest deletes objects the new snapshot "
    "references (check --read-data: missing objects). The grace period does not help: in real "
    "life the reused objects are as old as the forgotten snapshot (--grace-minutes 0 here)",
)


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


def test_a_prune_during_a_backup_keeps_every_object_the_backup_references(cli: Cli) -> None:
    cli("init")
    root = host_root(cli)
    conf = root / "etc/redis/redis.conf"
    original = conf.read_text()
    cli("backup")  # S1: the objects of the original host
    conf.write_text(original + "# changed\n")
    cli("backup")  # S2
    conf.write_text(original)  # back as in S1: the next backup reuses S1's objects

    backup = subprocess.Popen(
        [sys.executable, "-m", "drtool", "backup"],
        env={**cli.environment, TESTPOINT: "backup:before-manifest:stop"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not stopped(backup.pid):
            assert backup.poll() is None and time.monotonic() < deadline, backup.stderr
            time.sleep(0.05)
        # S1 forgotten, and its objects (old enough with no grace) pruned, meanwhile.
        cli("forget", "--keep-last", "1", "--prune")
        cli("prune", "--grace-minutes", "0")
        backup.send_signal(signal.SIGCONT)
        out, err = backup.communicate(timeout=120)
    finally:
        backup.kill()
    assert backup.returncode == 0, err
    snapshots = [s["id"] for s in json.loads(cli("snapshots", "--json").stdout)]
    assert out.strip() in snapshots
    cli("check", "--read-data")
    target = root.parent / "restored"
    cli("restore", out.strip(), "--target", str(target))
    assert (target / "etc/redis/redis.conf").read_text() == original
