"""Review of the signed heads: what someone who can write the storage (no key) still does to
`drtool status`, which reads heads/ only."""

from __future__ import annotations

import pytest

from drtool.heads import record_backup_failure
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository
from tests.e2e.test_key_commands import repo


@pytest.mark.xfail(
    strict=True,
    reason="hole: a head is not bound to a time; with storage access, an older head of the same "
    "host (signed then) put back clears a later failed backup until its snapshot passes "
    "--max-age",
)
def test_an_older_head_put_back_does_not_clear_a_failed_backup(cli: Cli) -> None:
    cli("init")
    cli("backup")
    head = repo(cli) / "heads/web-1"
    kept = head.read_bytes()
    record_backup_failure(open_repository(cli), "web-1", 65)
    cli("status", expect=29)
    head.write_bytes(kept)
    cli("status", expect=29)


@pytest.mark.xfail(
    strict=True,
    reason="hole: `status` lists heads/ only; with storage access, deleting heads/<host> takes a "
    "failing host out of the fleet view (exit 0)",
)
def test_a_deleted_head_does_not_hide_its_host(cli: Cli) -> None:
    cli("init")
    cli("backup")
    record_backup_failure(open_repository(cli), "web-1", 65)
    (repo(cli) / "heads/web-1").unlink()
    cli("status", expect=29)
