"""drtool killed (SIGKILL) at every write boundary of a backup and of a restore's install (the
points of drtool/testpoint.py), not only at the restore's journal steps: the repository stays
consistent and the host intact or resumable.

These points replace a backup killed after fixed delays (0.3 to 0.9 s), which on this machine
landed before anything was written or after the backup had finished: a kill at a named point
is at a write boundary on any machine, however fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drtool.testpoint import VARIABLE as TESTPOINT
from tests.conftest import Cli, owned_listing
from tests.e2e.test_restore_engine import host_root
from tests.e2e.test_restore_engine import incident as incident  # a fixture

pytestmark = pytest.mark.slow


def killed_at(cli: Cli, point: str, *arguments: str) -> None:
    Cli({**cli.environment, TESTPOINT: point})(*arguments, expect=-9, one_line=False)


def snapshot_ids(cli: Cli) -> list[str]:
    return [snapshot["id"] for snapshot in json.loads(cli("snapshots", "--json").stdout)]


def leftovers(root: Path) -> list[str]:
    """Build or aside directories a killed install left next to the live ones."""
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob(".*drtool-*")
        if ".drtool-new-" in path.name or ".drtool-old-" in path.name
    )


@pytest.mark.parametrize("point", ["backup:object-stored#1", "backup:before-manifest"])
def test_a_backup_killed_at_a_write_leaves_the_repository_consistent(cli: Cli, point: str) -> None:
    cli("init")
    first = cli("backup").stdout.strip()
    root = host_root(cli)
    (root / "etc/nginx/nginx.conf").write_text("events {}\n# changed\n")
    (root / "etc/redis/redis.conf").write_text("bind 127.0.0.1\n# changed\n")
    killed_at(cli, point, "backup")
    assert snapshot_ids(cli) == [first], "no half-written snapshot is listed"
    cli("check", "--read-data")
    second = cli("backup").stdout.strip()
    assert snapshot_ids(cli) == [first, second]
    cli("prune", "--grace-minutes", "0")
    cli("check", "--read-data")
    target = root.parent / "restored"
    cli("restore", second, "--target", str(target))
    assert (target / "etc/nginx/nginx.conf").read_text() == "events {}\n# changed\n"


INSTALL_POINTS = ["install:aside#1", "install:aside#2", "install:swapped#1", "install:swapped#3"]


@pytest.mark.parametrize("point", INSTALL_POINTS)
def test_a_restore_killed_between_renames_resumes_to_the_snapshot(
    cli: Cli, incident: tuple[dict, dict], point: str
) -> None:
    good, _ = incident
    killed_at(cli, point, "restore", "--yes")
    cli("restore", "--resume", "--yes")
    assert owned_listing(host_root(cli)) == good
    assert leftovers(host_root(cli)) == []


@pytest.mark.parametrize("point", INSTALL_POINTS)
def test_a_restore_killed_between_renames_rolls_back_to_the_host_as_it_was(
    cli: Cli, incident: tuple[dict, dict], point: str
) -> None:
    _, damaged = incident
    killed_at(cli, point, "restore", "--yes")
    cli("restore", "--rollback", "--yes")
    assert owned_listing(host_root(cli)) == damaged
    assert leftovers(host_root(cli)) == []
