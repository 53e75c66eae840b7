"""A repository written by the drtool of format 1 (tests/data/format1) still opens, lists and
restores, byte for byte, whatever format new repositories are given."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Cli, cli_environment

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "format1"
FIRST, SECOND = "20261206T021500.000000Z-60e9a5d9", "20261207T021500.000000Z-6c92fab0"
# The roots the fixture's snapshots hold (nginx, wireguard, fail2ban, and the [files] path).
ROOTS = ("etc/nginx", "etc/wireguard", "etc/fail2ban", "etc/redis/redis.conf")


def expected_files(listing: Path) -> dict[str, str]:
    """path -> SHA-256 of every regular file under the snapshot's roots, from find + sha256sum."""
    files = {}
    for line in listing.read_text().splitlines():
        digest, _, path = line.partition("  ")
        if len(digest) == 64 and path.startswith(ROOTS):
            files[path] = digest
    return files


@pytest.fixture
def old_repository(tmp_path: Path) -> Cli:
    shutil.copytree(FIXTURE / "repository", tmp_path / "repo")
    environment = cli_environment(tmp_path, tmp_path / "host", EXAMPLES / "drtool.toml")
    (tmp_path / "passphrase").write_text("format one fixture\n")
    return Cli(environment)


def test_a_format_1_repository_lists_its_snapshots(old_repository: Cli):
    listed = old_repository("snapshots").stdout
    assert FIRST in listed and SECOND in listed


@pytest.mark.parametrize(("snapshot", "listing"), [(FIRST, "first"), (SECOND, "second")])
def test_a_format_1_snapshot_restores_byte_for_byte(
    old_repository: Cli, tmp_path: Path, snapshot: str, listing: str
):
    target = tmp_path / "restored"
    old_repository("restore", snapshot, "--target", str(target), "--yes")
    expected = expected_files(FIXTURE / f"{listing}.listing")
    restored = {
        path.relative_to(target).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in target.rglob("*")
        if path.is_file() and not path.is_symlink()
    }
    assert restored == expected


def test_a_format_1_repository_checks_clean(old_repository: Cli):
    checked = old_repository("check", "--read-data").stdout
    assert "checked 2 snapshot(s)" in checked and "no problems found" in checked
