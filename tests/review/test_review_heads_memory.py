"""Third review of the fleet view's memory (drtool/fleet_heads.py, SeenHeads in drtool/seen.py):
what someone who can write the storage, or who holds one host's writer credential, can do to
`drtool status`. Oracles: the memory file's own bytes, exit codes, the lines printed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from drtool import format as object_format
from drtool.format import Binding
from drtool.keyring.credential import read_credential
from drtool.keyring.signatures import HEAD, sign_manifest
from tests.conftest import Cli
from tests.e2e.test_key_commands import add_writer, repo
from tests.e2e.test_status_memory import attention, memory_file


def plant_head(cli: Cli, keys: object, host: str, head: dict[str, object]) -> None:
    """``head`` signed and sealed with ``keys`` (a writer credential's, or an operator's) for
    ``host``, written where its host's head is."""
    signed = sign_manifest(keys, host, head, HEAD)  # type: ignore[arg-type]
    sealed = object_format.seal(keys, Binding.host_head(host), json.dumps(signed).encode())  # type: ignore[arg-type]
    (repo(cli) / "heads").mkdir(exist_ok=True)
    (repo(cli) / "heads" / host).write_bytes(sealed)


def test_a_head_dated_before_the_year_1000_does_not_damage_the_memory(
    cli: Cli, tmp_path: Path
) -> None:
    """A writer of web-1 signs a head dated 0999 (a valid time): `status` remembered it as
    "999-…", which the next `status` refused as a damaged memory (exit 55) until the operator
    moved the file aside, losing what it remembered of every host."""
    cli("init")
    keys = read_credential(add_writer(cli, tmp_path)).keys
    plant_head(cli, keys, "web-1", {"host": "web-1", "updated": "0999-01-01T00:00:00.000000Z"})
    assert "web-1 (never backed up)" in attention(cli)
    stored = json.loads(memory_file(cli).read_text())["hosts"]
    assert stored == {"web-1": "0999-01-01T00:00:00.000000Z"}
    assert "web-1 (never backed up)" in attention(cli)


def nest(directory: Path, depth: int) -> None:
    """``depth`` directories "a" one in the other below ``directory``, a file at the bottom; by
    descriptors, as a hostile host makes them (no path is ever longer than one name)."""
    directory.mkdir(parents=True)
    level = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("a", dir_fd=level)
        level, parent = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=level), level
        os.close(parent)
    os.close(os.open("x", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=level))
    os.close(level)


def unnest(directory: Path) -> None:
    """Remove what ``nest`` made, without recursion (pytest's cleanup of its temporary
    directories recurses, and fails on it)."""
    level = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    depth = 0
    while "a" in os.listdir(level):
        level, parent = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=level), level
        os.close(parent)
        depth += 1
    os.unlink("x", dir_fd=level)
    for _ in range(depth):
        level, child = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=level), level
        os.close(child)
        os.rmdir("a", dir_fd=level)
    os.close(level)
    directory.rmdir()


# Within PATH_MAX (2 characters a level): a problem of its folder; beyond: refused (exit 14).
# Both were an internal error (a RecursionError, an OSError quoting the 4 KiB path).
@pytest.mark.parametrize(("depth", "code"), [(1500, 29), (2100, 14)])
def test_a_deeply_nested_folder_under_snapshots_is_one_line(
    backed_up: Cli, depth: int, code: int
) -> None:
    deep = repo(backed_up) / "snapshots/deep"
    nest(deep, depth)
    try:
        error = backed_up("status", expect=code).stderr
    finally:
        unnest(deep)
    assert len(error) < 400
    if code == 29:
        assert "deep (the status record of host deep is missing, though it has snapshots" in error
    assert backed_up("status").returncode == 0
