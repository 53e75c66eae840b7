"""drtool status: the fleet view from each host's head, as an operator reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drtool.heads import HEADS, update_head
from drtool.repository import Repository
from drtool.store.local import LocalStore
from tests.conftest import Cli, fixed_passphrase


def open_repository(cli: Cli) -> Repository:
    return Repository.open(LocalStore(cli.environment["DRTOOL_REPO"]), fixed_passphrase())


def test_status_lists_every_host_with_its_newest_snapshot_drill_and_check(cli: Cli) -> None:
    cli("init")
    first = cli("backup", "--host", "web-1").stdout.strip()
    newest = cli("backup", "--host", "web-1").stdout.strip()
    web2 = cli("backup", "--host", "web-2").stdout.strip()
    cli("check")
    document = json.loads(cli("status", "--json").stdout)
    hosts = {item["host"]: item for item in document["hosts"]}
    assert sorted(hosts) == ["web-1", "web-2"]
    assert hosts["web-1"]["snapshot"]["id"] == newest != first
    assert hosts["web-2"]["snapshot"]["id"] == web2
    assert hosts["web-1"]["snapshot"]["tags"] == ["demo"]
    assert 0 <= hosts["web-1"]["age_seconds"] < 3600
    assert hosts["web-1"]["drill"] is None and hosts["web-1"]["problems"] == []
    assert document["check"]["passed"] is True and document["check"]["read_data"] is False
    table = cli("status").stdout
    assert table.splitlines()[0].split()[:3] == ["Host", "Newest", "snapshot"]
    assert "2 host(s), 0 need(s) attention" in table and "last check:" in table


def test_a_failed_drill_or_a_stale_host_exits_29(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    # The sample host's nginx names a certificate the backup lacks: the drill fails (27) ...
    cli("drill", expect=27, one_line=False)
    failed = cli("status", "--json", expect=29)
    assert failed.stderr.startswith("drtool: error: 1 host(s) need attention: web-1 (last drill")
    (host,) = json.loads(failed.stdout)["hosts"]
    assert host["drill"]["passed"] is False and "toolboxai.pem" in host["drill"]["problem"]
    # ... and a passing one clears it; then an old snapshot makes the host stale.
    update_head(open_repository(cli), "web-1", drill={**host["drill"], "passed": True})
    cli("status")
    stale = cli("status", "--max-age", "1s", "--json", expect=29).stderr
    assert "web-1 (newest snapshot" in stale
    cli("status", "--max-age", "1x", expect=2)


@pytest.mark.usefixtures("backed_up")
def test_a_host_whose_backup_failed_needs_attention(cli: Cli) -> None:
    cli("backup", "--netns", "drtool-test-no-such-namespace", expect=20)  # the firewall unread
    (host,) = json.loads(cli("status", "--json", expect=29).stdout)["hosts"]
    assert host["backup_failure"]["exit_code"] == 20
    assert host["problems"][0].startswith("backup failed at")
    cli("backup")
    cli("status")


@pytest.mark.usefixtures("backed_up")
def test_a_damaged_head_is_a_problem_of_its_host_in_one_line(cli: Cli) -> None:
    head = Path(cli.environment["DRTOOL_REPO"], HEADS, "web-1")
    data = bytearray(head.read_bytes())
    data[-5] ^= 1
    head.write_bytes(bytes(data))
    assert "web-1 (status record of host web-1" in cli("status", expect=29).stderr


@pytest.mark.usefixtures("backed_up")
def test_a_failed_check_needs_attention(cli: Cli) -> None:
    """A check that found a pack gone is recorded; status says so and exits 29 until a check
    passes, though every host's own backup is fresh."""
    cli("check")
    cli("status")
    packs = sorted(Path(cli.environment["DRTOOL_REPO"], "packs").rglob("*"))
    next(path for path in packs if path.is_file()).unlink()
    cli("check", expect=14, one_line=False)
    failed = cli("status", expect=29)
    assert failed.stderr.startswith(
        "drtool: error: 1 host(s) need attention: _repository (last check failed at "
    )
    assert " FAILED" in failed.stdout.split("last check: ", 1)[1].splitlines()[0]
