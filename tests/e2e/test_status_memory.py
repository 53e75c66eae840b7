"""What `status` remembers of the fleet (var/lib/drtool/seen/<repository-id>.heads.json) and the
hosts it lists beside heads/ (snapshots/): a head deleted, an older one put back, a planted one,
one a revoked writer signed, one naming a snapshot that is gone, and a damaged memory, each as
someone who can write the storage (or the machine's disk) leaves them. The oracles are the
files themselves: the memory's JSON, the repository's config and listings, and wall-clock
bounds around each write."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drtool import format as object_format
from drtool.format import Binding
from drtool.heads import record_backup_failure
from drtool.keyring.credential import read_credential
from drtool.keyring.signatures import HEAD, sign_manifest
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository
from tests.e2e.test_key_commands import add_writer, as_writer, repo
from tests.e2e.test_seen_state import DAMAGES, host_root

pytestmark = pytest.mark.slow  # drtool runs some ten to twenty times


def memory_file(cli: Cli) -> Path:
    # The repository's id, from its clear config (docs/FORMAT.md), not from drtool.
    config = json.loads((repo(cli) / "config").read_text())
    return host_root(cli) / "var/lib/drtool/seen" / f"{config['repository_id']}.heads.json"


def remembered(cli: Cli) -> dict[str, datetime]:
    hosts = json.loads(memory_file(cli).read_text())["hosts"]
    return {host: datetime.fromisoformat(time) for host, time in hosts.items()}


def attention(cli: Cli) -> str:
    """The one line of a `status` that exits 29."""
    return cli("status", expect=29).stderr


def tree(path: Path) -> dict[str, bytes]:
    return {
        item.relative_to(path).as_posix(): item.read_bytes()
        for item in sorted(path.rglob("*"))
        if item.is_file()
    }


def test_an_older_head_is_refused_where_a_newer_one_was_read_until_the_next_backup(
    backed_up: Cli,
) -> None:
    cli = backed_up
    kept = (repo(cli) / "heads/web-1").read_bytes()
    before = datetime.now(UTC)
    record_backup_failure(open_repository(cli), "web-1", 65)
    after = datetime.now(UTC)
    assert "web-1 (backup failed at" in attention(cli)
    assert oct(memory_file(cli).stat().st_mode & 0o777) == "0o600"
    assert set(remembered(cli)) == {"web-1"}
    assert before <= remembered(cli)["web-1"] <= after
    memory = memory_file(cli).read_bytes()

    (repo(cli) / "heads/web-1").write_bytes(kept)  # validly signed, before the failure
    rolled_back = attention(cli)
    assert "the status record of host web-1 (of " in rolled_back
    assert "is older than one this machine read" in rolled_back and "put back" in rolled_back
    assert memory_file(cli).read_bytes() == memory, "an older head is not remembered"

    cli("backup")  # the host's next head is newer than the one remembered
    cli("status")
    assert remembered(cli)["web-1"] > after


def test_a_head_dated_ahead_is_remembered_at_this_clocks_time(backed_up: Cli) -> None:
    """Signed by a key of its host, yet dated in 2099: remembered no later than an hour past
    the reading machine's clock (drtool.heads.CLOCK_SKEW), so the host's next honest head (the
    operator's: it reads the one it replaces) is not taken for an older one."""
    cli = backed_up
    (listed,) = json.loads(cli("status", "--json").stdout)["hosts"]
    keys = open_repository(cli).key
    head = {
        "host": "web-1",
        "snapshot": listed["snapshot"],
        "updated": "2099-01-01T00:00:00.000000Z",
    }
    signed = sign_manifest(keys, "web-1", head, HEAD)  # type: ignore[arg-type]
    sealed = object_format.seal(keys, Binding.host_head("web-1"), json.dumps(signed).encode())
    (repo(cli) / "heads/web-1").write_bytes(sealed)
    cli("status")
    assert remembered(cli)["web-1"] <= datetime.now(UTC) + timedelta(hours=1)
    cli("backup")
    cli("status")


def test_a_deleted_head_is_a_problem_with_or_without_its_snapshots(backed_up: Cli) -> None:
    cli = backed_up
    head = repo(cli) / "heads/web-1"
    kept = head.read_bytes()
    head.unlink()  # this machine never read it: its host's snapshots still name the host
    assert "the status record of host web-1 is missing, though it has snapshots" in attention(cli)
    head.write_bytes(kept)
    cli("status")
    head.unlink()
    shutil.rmtree(repo(cli) / "snapshots/web-1")
    gone = attention(cli)
    assert "the status record of host web-1 is gone, though this machine read one" in gone


@pytest.mark.xfail(
    strict=True,
    reason="limit: a machine with no memory of the repository does not know a host whose head "
    "and snapshots were both deleted (docs/FORMAT.md, 'Signed heads')",
)
def test_a_new_machine_sees_a_host_whose_head_and_snapshots_were_deleted(backed_up: Cli) -> None:
    cli = backed_up
    (repo(cli) / "heads/web-1").unlink()
    shutil.rmtree(repo(cli) / "snapshots/web-1")
    cli("status", expect=29)


def test_a_head_naming_a_snapshot_of_a_host_with_none_is_a_problem(cli: Cli) -> None:
    cli("init")
    snapshot = cli("backup").stdout.strip()
    (repo(cli) / "snapshots/web-1" / snapshot).unlink()  # the emptied directory stays
    assert f"names snapshot {snapshot}, but the host has no snapshot" in attention(cli)
    # One snapshot left, the newest gone: `status` reads no manifest; `check` finds the gap
    # (this machine saw the newest snapshot: drtool/chain.py).
    cli("backup")
    newest = cli("backup").stdout.strip()
    (repo(cli) / "snapshots/web-1" / newest).unlink()
    cli("status")
    assert newest in cli("check", expect=14, one_line=False).stdout


def test_planted_heads_and_folders_are_problems_never_remembered(backed_up: Cli) -> None:
    cli = backed_up
    head = (repo(cli) / "heads/web-1").read_bytes()
    planted = {
        "heads/ghost": head,  # web-1's, sealed and signed for web-1
        "heads/junk": b"not a head",
        "snapshots/ghost-2/20250107T021500Z-3fa2c1d0": b"not a manifest",
        "snapshots/.hidden/20250107T021500Z-3fa2c1d0": b"not a manifest",
    }
    for name, data in planted.items():
        (repo(cli) / name).parent.mkdir(exist_ok=True)
        (repo(cli) / name).write_bytes(data)
    listed = json.loads(cli("status", "--json", expect=29).stdout)
    problems = {item["host"]: item["problems"] for item in listed["hosts"]}
    assert problems["web-1"] == []
    assert set(problems) == {"web-1", "ghost", "junk", "ghost-2", "'.hidden'"}
    assert problems["ghost-2"] == [
        "the status record of host ghost-2 is missing, though it has snapshots (deleted, or "
        "never written)"
    ]
    assert problems["'.hidden'"] == ["the folder of snapshots/ '.hidden' is not named by a host"]
    assert set(remembered(cli)) == {"web-1"}
    for name in planted:
        (repo(cli) / name).unlink()
    cli("status")


def test_a_revoked_writers_head_is_not_remembered(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    cli("status")
    read = remembered(cli)["web-1"]
    credential = add_writer(cli, tmp_path)
    as_writer(cli, credential)("backup")  # a newer head, signed by the writer
    cli("key", "remove", read_credential(credential).keys.writer_id)
    assert "revoked" in attention(cli)
    assert remembered(cli) == {"web-1": read}
    cli("backup")  # an operator's backup writes a head it trusts
    cli("status")
    assert remembered(cli)["web-1"] > read


def test_a_damaged_memory_is_refused_in_one_line_and_left_as_it_is(backed_up: Cli) -> None:
    cli = backed_up
    cli("status")
    path = memory_file(cli)
    for damage, make in DAMAGES.items():
        shutil.copytree(path.parent, path.parent.with_name("kept"), dirs_exist_ok=True)
        make(path)
        before = (path.lstat().st_mode, path.read_bytes() if path.is_file() else None)
        seen, stored = tree(path.parent), tree(repo(cli))
        error = cli("status", expect=55).stderr
        assert f"{path} is damaged" in error and "move it aside" in error, damage
        assert (path.lstat().st_mode, path.read_bytes() if path.is_file() else None) == before
        assert (tree(path.parent), tree(repo(cli))) == (seen, stored), damage
        shutil.rmtree(path.parent)
        path.parent.with_name("kept").rename(path.parent)
    cli("status")
