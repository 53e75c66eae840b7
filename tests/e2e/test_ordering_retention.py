"""Which snapshot is the latest, and which ones retention keeps: by recorded time, never by the
random part of an id; pre-restore snapshots never take the place of the day's full backup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.host import Host
from drtool.repository import Repository, manifest_name
from drtool.snapshot import select_snapshot
from tests.conftest import Cli


def host_root(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_ROOT"])


def test_many_backups_in_one_second_latest_is_always_the_last(
    repository: Repository, sample_root: Path
) -> None:
    """Twenty backups within one second, as a loop or two schedules racing would make them:
    after each, ``latest`` and ``--date`` pick it (ids used to sort by their random part)."""
    host = Host(sample_root, "web-1")
    collectors = collectors_for(Settings(kinds=("files",)))
    second = datetime(2025, 1, 7, 2, 15, tzinfo=UTC)
    now = second + timedelta(minutes=5)
    for index in range(20):
        moment = second + timedelta(microseconds=40_000 * index + 1)
        manifest = run_backup(repository, host, collectors, now=moment)
        refs = repository.snapshot_refs()
        assert select_snapshot(refs, "latest", None, "web-1", now).id == manifest.id
        assert select_snapshot(refs, None, "20250107", "web-1", now).id == manifest.id
        assert refs[-1].id == manifest.id, "listings run oldest first by recorded time"


def test_diff_latest_right_after_a_backup_shows_no_differences(cli: Cli) -> None:
    cli("init")
    jail = host_root(cli) / "etc/fail2ban/jail.local"
    for index in range(4):
        jail.write_text(f"[sshd]\nmaxretry = {index}\n")
        snapshot_id = cli("backup").stdout.strip()
        assert cli("diff", "latest").stdout.strip() == "no differences"
        assert json.loads(cli("show", "latest", "--json").stdout)["id"] == snapshot_id


def test_a_future_dated_snapshot_pins_neither_latest_nor_retention(cli: Cli) -> None:
    """A clock gone wrong once: its snapshot is passed over by latest (with a warning naming
    it), kept by forget without taking a slot, so today's backup stays."""
    cli("init")
    cli("backup")
    repository_path = Path(cli.environment["DRTOOL_REPO"])
    future = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y%m%dT%H%M%S.%fZ-0badc10c")
    [current] = (repository_path / "snapshots/web-1").iterdir()
    # A real snapshot under a future name: its manifest binds it to its own id, so the forged
    # copy cannot be read, but latest must not even try.
    (repository_path / manifest_name("web-1", future)).write_bytes(current.read_bytes())
    jail = host_root(cli) / "etc/fail2ban/jail.local"
    jail.write_text("[sshd]\nmaxretry = 9\n")
    newest = cli("backup").stdout.strip()
    shown = cli("show", "latest", "--json")
    assert json.loads(shown.stdout)["id"] == newest
    assert future in shown.stderr and "future" in shown.stderr
    report = json.loads(cli("forget", "--keep-last", "1", "--json").stdout)
    assert report["reasons"][f"web-1/{future}"] == ["newest", "future-dated (not counted)"]
    assert report["reasons"][f"web-1/{newest}"] == ["last"]
    assert report["removed"] == [f"web-1/{current.name}"]


def test_forget_keeps_the_day_s_backup_after_a_restore_made_a_pre_restore_snapshot(
    cli: Cli, netns: str, tmp_path: Path
) -> None:
    """The restore saves the state it replaces as a small pre-restore snapshot, newer than the
    day's full backup: --keep-daily 7 keeps the backup (daily) and the pre-restore snapshot
    (its own rule), and --date still finds the backup."""
    cli("init")
    backup_id = cli("backup").stdout.strip()
    (host_root(cli) / "etc/redis/redis.conf").write_text("protected-mode no\n")
    cli.environment["DRTOOL_NETNS"] = netns
    restored = json.loads(cli("--services", "restore", "--only", "files", "--yes", "--json").stdout)
    pre_restore = restored["pre_restore_snapshot"]
    assert pre_restore and "-pre-" in pre_restore
    dry = cli("forget", "--keep-daily", "7", "--dry-run")
    assert f"keep   web-1/{backup_id}  (daily)" in dry.stdout
    assert f"keep   web-1/{pre_restore}  (newest, pre-restore)" in dry.stdout
    report = json.loads(cli("forget", "--keep-daily", "7", "--json").stdout)
    assert report["removed"] == []
    assert sorted(report["kept"]) == sorted([f"web-1/{backup_id}", f"web-1/{pre_restore}"])
    day = backup_id[:8]
    target = tmp_path / "look"
    done = json.loads(cli("restore", "--date", day, "--target", str(target), "--json").stdout)
    assert done["snapshot_id"] == backup_id
    # Later, with no restore for longer than --keep-pre-restore, the pre-restore snapshot goes.
    assert (
        f"web-1/{pre_restore}"
        in json.loads(
            cli("forget", "--keep-daily", "7", "--keep-pre-restore", "0h", "--json").stdout
        )["kept"]
    ), "it is still the host's newest snapshot, which backups build on"
    cli("backup")
    gone = json.loads(
        cli("forget", "--keep-daily", "7", "--keep-pre-restore", "0h", "--json").stdout
    )
    assert gone["removed"] == [f"web-1/{pre_restore}"]
    assert "older than 0h" in gone["reasons"][f"web-1/{pre_restore}"][0]
