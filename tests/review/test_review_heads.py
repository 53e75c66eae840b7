"""Review of the signed heads: what someone who can write the storage (no key) can no longer do
to `drtool status` (drtool/fleet_heads.py)."""

from __future__ import annotations

from drtool.heads import record_backup_failure
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository
from tests.e2e.test_key_commands import repo


def test_an_older_head_put_back_does_not_clear_a_failed_backup(cli: Cli) -> None:
    cli("init")
    cli("backup")
    head = repo(cli) / "heads/web-1"
    kept = head.read_bytes()
    record_backup_failure(open_repository(cli), "web-1", 65)
    cli("status", expect=29)
    head.write_bytes(kept)
    cli("status", expect=29)


def test_a_deleted_head_does_not_hide_its_host(cli: Cli) -> None:
    cli("init")
    cli("backup")
    record_backup_failure(open_repository(cli), "web-1", 65)
    (repo(cli) / "heads/web-1").unlink()
    cli("status", expect=29)
