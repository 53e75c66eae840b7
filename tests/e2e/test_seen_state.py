"""The machine's memory of the snapshots it has seen (var/lib/drtool/seen/<repository-id>.json)
is read as hostile input: damaged, a link, writable by others, too large, naming another
repository — refused in one line (exit 55), never trusted to skip the check, never rewritten;
a backup goes on without it and leaves it as it is."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.test_cli import host_root

pytestmark = pytest.mark.slow  # drtool runs about twenty times


def state_file(cli: Cli) -> Path:
    # The repository's id, from its clear config (docs/FORMAT.md), not from drtool.
    config = json.loads((Path(cli.environment["DRTOOL_REPO"]) / "config").read_text())
    return host_root(cli) / "var/lib/drtool/seen" / f"{config['repository_id']}.json"


def valid(path: Path, **changes: object) -> bytes:
    return json.dumps({**json.loads(path.read_text()), **changes}).encode()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "not JSON": lambda path: path.write_bytes(b"\x00\xffgarbage"),
    "a list": lambda path: path.write_text("[]"),
    "nested past Python's limit": lambda path: path.write_text("[" * 100_000),
    "another repository": lambda path: path.write_bytes(valid(path, repository_id="0" * 32)),
    "a host name": lambda path: path.write_bytes(
        valid(path, hosts={"../etc": "20250107T021500Z-3fa2c1d0"})
    ),
    "a snapshot id": lambda path: path.write_bytes(valid(path, hosts={"web-1": "latest"})),
    "a number for the hosts": lambda path: path.write_bytes(valid(path, hosts=7)),
    "too large": lambda path: path.write_bytes(b" " * (5 * 1024 * 1024)),
    "writable by its group": lambda path: path.chmod(0o620),
    "a directory": lambda path: (path.unlink(), path.mkdir()),
    "a link": lambda path: (
        path.with_name("elsewhere").write_bytes(path.read_bytes()),
        path.unlink(),
        path.symlink_to("elsewhere"),
    ),
}


def test_the_state_is_private_and_names_the_newest_snapshot_seen(cli: Cli) -> None:
    cli("init")
    snapshot = cli("backup").stdout.strip()
    path = state_file(cli)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert json.loads(path.read_text())["hosts"] == {"web-1": snapshot}


def test_a_damaged_state_is_refused_in_one_line_and_left_as_it_is(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    path = state_file(cli)
    good = path.read_bytes()
    target = tmp_path / "look"
    for damage, make in DAMAGES.items():
        make(path)
        before = (path.lstat().st_mode, path.read_bytes() if path.is_file() else None)
        error = cli("restore", "latest", "--target", str(target), expect=55).stderr
        assert "drtool will not trust it; move it aside" in error, damage
        assert "Traceback" not in error
        assert not target.exists(), damage
        assert (path.lstat().st_mode, path.read_bytes() if path.is_file() else None) == before
        if damage == "not JSON":
            cli("drill", expect=55)
            cli("check", expect=55)
            backed_up = cli("backup")  # a backup goes on; the state stays for a reader to see
            assert "drtool will not trust it" in backed_up.stderr
            assert path.read_bytes() == before[1]
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
        path.with_name("elsewhere").unlink(missing_ok=True)
        path.write_bytes(good)
        path.chmod(0o600)
    os.remove(path)  # moved aside: this machine now knows only what the repository says
    cli("restore", "latest", "--target", str(target))
