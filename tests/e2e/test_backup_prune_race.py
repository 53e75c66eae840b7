"""A backup racing a prune: the backup has decided to reuse objects already in the repository
(deduplication) and not yet written its manifest when a forget + prune would remove the only
snapshot that referenced them. The backup is held at that moment by drtool's test point
(SIGSTOP), so the race is run deterministically, not left to timing. The backup's shared lock
(taken before it writes its first pack) keeps the prune out (exit 21) until its manifest is
written; then nothing it references goes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.conftest import Cli
from tests.e2e.test_cli import host_root

pytestmark = pytest.mark.slow


def test_a_prune_during_a_backup_keeps_every_object_the_backup_references(cli: Cli) -> None:
    cli("init")
    root = host_root(cli)
    conf = root / "etc/redis/redis.conf"
    original = conf.read_text()
    cli("backup")  # S1: the objects of the original host
    conf.write_text(original + "# changed\n")
    cli("backup")  # S2
    conf.write_text(original)  # back as in S1: the next backup reuses S1's objects

    backup = cli.paused_at("backup:before-manifest", "backup")
    try:
        # S1 forgotten and its objects pruned now would lose what the backup reuses: refused.
        for command in (
            ("forget", "--keep-last", "1", "--prune"),
            ("prune", "--grace-minutes", "0"),
        ):
            refused = cli(*command, expect=21).stderr
            assert "backup on web-1" in refused and "is running" in refused
        backup.send_signal(signal.SIGCONT)
        out, err = backup.communicate(timeout=120)
    finally:
        backup.kill()
    assert backup.returncode == 0, err
    cli("forget", "--keep-last", "1", "--prune")
    cli("prune", "--grace-minutes", "0")
    snapshots = [s["id"] for s in json.loads(cli("snapshots", "--json").stdout)]
    assert snapshots == [out.strip()]
    cli("check", "--read-data")
    target = root.parent / "restored"
    cli("restore", out.strip(), "--target", str(target))
    assert (target / "etc/redis/redis.conf").read_text() == original


def test_a_backup_while_a_prune_runs_is_refused_or_waits(cli: Cli) -> None:
    """The other side: a prune holding the exclusive lock keeps out a backup that writes a
    pack (exit 21, one line), and --retry-lock makes the backup wait for it instead. An
    unchanged backup writes its manifest only, reusing the newest snapshot's packs (which
    prune keeps): it needs no lock and goes through; check then reads every blob of it."""
    cli("init")
    cli("backup")
    prune = cli.paused_at("prune:listed", "prune", "--grace-minutes", "0")
    waiting = None
    try:
        unchanged = cli("backup").stdout.strip()
        conf = host_root(cli) / "etc/redis/redis.conf"
        conf.write_text(conf.read_text() + "# changed\n")
        refused = cli("backup", expect=21).stderr
        assert "locked by prune on web-1" in refused
        waiting = subprocess.Popen(
            [sys.executable, "-m", "drtool", "backup", "--retry-lock", "2m"],
            env=cli.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        prune.send_signal(signal.SIGCONT)
        _, pruned = prune.communicate(timeout=120)
        assert prune.returncode == 0, pruned
        out, err = waiting.communicate(timeout=180)
    finally:
        for process in (prune, waiting):
            if process:
                process.kill()
                process.communicate()
    assert waiting.returncode == 0, err
    listed = [s["id"] for s in json.loads(cli("snapshots", "--json").stdout)]
    assert unchanged in listed and out.strip() in listed
    cli("check", "--read-data")
