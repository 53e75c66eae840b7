"""The habits an operator brings from restic: global options after the command, a snapshots
table with a header, --latest and --group-by, forget scoped to this host, --retry-lock, tags
once each, -v restore steps with their times, a short usage for a bare drtool."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from drtool.lock import LOCK_NAME
from tests.conftest import Cli


def hosts_and_ids(cli: Cli, *arguments: str) -> list[tuple[str, str]]:
    """The snapshots listed, of every host unless the arguments name one."""
    every_host = Cli({k: v for k, v in cli.environment.items() if k != "DRTOOL_HOST"})
    listed = json.loads(every_host("snapshots", "--json", *arguments).stdout)
    return [(item["host"], item["id"]) for item in listed]


def backups(cli: Cli, host: str, count: int) -> list[str]:
    """``count`` snapshots of ``host``, each in a second of its own: ids name the second only,
    and which of two in one second is newer is ret's ordering work, not what is tested here."""
    made = []
    for _ in range(count):
        time.sleep(1.05)
        made.append(cli("backup", "--host", host).stdout.strip())
    return made


def test_global_options_work_after_the_command(cli: Cli) -> None:
    cli("init")
    web1, web2 = backups(cli, "web-1", 1), backups(cli, "web-2", 1)
    assert hosts_and_ids(cli, "--host", "web-2") == [("web-2", web2[0])]
    assert hosts_and_ids(cli) == [("web-1", web1[0]), ("web-2", web2[0])]
    assert "drtool:" in cli("backup", "-v").stderr
    cli("snapshots", "--no-such-option", expect=2)


def test_snapshots_table_latest_and_group_by(cli: Cli) -> None:
    cli("init")
    web1 = backups(cli, "web-1", 3)
    web2 = backups(cli, "web-2", 2)
    every_host = Cli({k: v for k, v in cli.environment.items() if k != "DRTOOL_HOST"})
    table = every_host("snapshots").stdout.splitlines()
    assert re.match(r"ID\s+Host\s+Time \(UTC\)\s+Size\s+Stored\s+Kinds\s+Tags$", table[0])
    assert set(table[1]) == {"-"} and table[-1] == "5 snapshot(s)"
    # oldest first; made one after another (ids sort by second only: two may share one)
    assert [line.split()[0] for line in table[2:-2]] == [*web1, *web2]
    assert hosts_and_ids(cli, "--latest", "1") == [("web-1", web1[-1]), ("web-2", web2[-1])]
    groups = json.loads(
        every_host("snapshots", "--group-by", "host", "--latest", "2", "--json").stdout
    )
    assert [
        (group["group_key"], [item["id"] for item in group["snapshots"]]) for group in groups
    ] == [
        ({"host": "web-1"}, web1[-2:]),
        ({"host": "web-2"}, web2),
    ]
    human = every_host("snapshots", "--group-by", "host").stdout
    assert "snapshots of host web-1:" in human and "snapshots of host web-2:" in human


def test_forget_is_scoped_to_this_host_unless_all_hosts(cli: Cli) -> None:
    cli("init")
    web1 = backups(cli, "web-1", 2)
    web2 = backups(cli, "web-2", 2)
    cli("forget", "--keep-last", "1", "--host", "web-1")
    assert hosts_and_ids(cli) == [("web-1", web1[1]), ("web-2", web2[0]), ("web-2", web2[1])]
    cli("forget", "--keep-last", "1", "--all-hosts")
    assert hosts_and_ids(cli) == [("web-1", web1[1]), ("web-2", web2[1])]


@pytest.mark.usefixtures("backed_up")
def test_retry_lock_waits_for_the_holder(cli: Cli) -> None:
    lock = Path(cli.environment["DRTOOL_REPO"], LOCK_NAME)
    lock.parent.mkdir(exist_ok=True)
    holder = '{"purpose": "prune", "host": "web-9", "pid": 1, "created": "%s"}'
    lock.write_text(holder % "2099-01-01T00:00:00.000000Z")  # a fresh lock: never stale
    refused = cli("forget", "--keep-last", "1", expect=21)
    assert "locked by prune on web-9" in refused.stderr
    cli("prune", "--retry-lock", "1s", expect=21)
    released = threading.Timer(1.0, lock.unlink)
    released.start()
    try:
        cli("forget", "--keep-last", "1", "--retry-lock", "2m", "-v")
    finally:
        released.join()


def test_tags_are_kept_once(cli: Cli) -> None:
    cli("init")
    cli("backup", "--tag", "demo", "--tag", "nightly", "--tag", "nightly")
    (listed,) = json.loads(cli("snapshots", "--json").stdout)
    assert listed["tags"] == ["demo", "nightly"]


@pytest.mark.usefixtures("backed_up")
def test_verbose_restore_logs_each_step_with_its_time(cli: Cli) -> None:
    logged = cli("restore", "--yes", "-v").stderr
    steps = re.findall(r"^drtool: (\d\d:\d\d:\d\d\.\d{3}) restore: (.+)$", logged, re.MULTILINE)
    assert [step for _, step in steps][-1] == "completed"
    assert "validated" in [step for _, step in steps]


def test_bare_drtool_prints_a_short_usage(cli: Cli) -> None:
    completed = cli(expect=2, one_line=False)
    assert completed.stderr.startswith("Usage: drtool [OPTIONS] COMMAND")
    assert len(completed.stderr.splitlines()) == 3
    assert completed.stdout == ""
