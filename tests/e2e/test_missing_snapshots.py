"""Nothing taken away unnoticed (issue 14): manifests deleted from the store beside drtool (the
newest, one in the middle, all but the oldest) are refused by `restore latest`, `--date` and
`drill` (exit 14, one line naming the snapshot) and reported by `check`, unless
`--accept-missing`; forget's tombstones tell a forgotten snapshot from a deleted one, and a
forged tombstone counts for nothing. On a local repository and on S3 (moto). The oracle for
what the repository holds is the store itself: its files, or the bucket's keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.test_s3_cli import moto_server, on_bucket
from tests.support.buckets import StoredNames
from tests.support.s3 import new_bucket

__all__ = ["moto_server"]  # the fixture, used through the `place` fixture below
# Each test runs drtool ten times or so, two seconds each on a busy machine.
pytestmark = pytest.mark.slow


@pytest.fixture(params=["local", "moto"])
def place(
    request: pytest.FixtureRequest, cli: Cli, tmp_path: Path
) -> Iterator[tuple[Cli, StoredNames]]:
    """drtool on a repository, and the same repository as its store holds it."""
    if request.param == "local":
        yield cli, local(cli)
        return
    import boto3

    endpoint = request.getfixturevalue("moto_server")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    bucket = new_bucket(client)
    s3 = on_bucket(cli, endpoint, bucket, tmp_path)
    s3.environment.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    yield s3, StoredNames(client=client, bucket=bucket)


def local(cli: Cli) -> StoredNames:
    return StoredNames(directory=Path(cli.environment["DRTOOL_REPO"]))


def backups(cli: Cli, count: int) -> list[str]:
    return [cli("backup").stdout.strip() for _ in range(count)]


def manifest(snapshot: str) -> str:
    return f"snapshots/web-1/{snapshot}"


def tombstone(snapshot: str) -> str:
    return f"forgotten/web-1/{snapshot}"


def another_reader(cli: Cli, tmp_path: Path, name: str) -> Cli:
    """drtool on another machine: the same repository, its own (empty) state."""
    root = tmp_path / name
    root.mkdir()
    return Cli({**cli.environment, "DRTOOL_ROOT": str(root)})


def refused(cli: Cli, *arguments: str) -> str:
    """The one-line refusal (exit 14) of a command that must not pick what is left."""
    return cli(*arguments, expect=14).stderr


def test_the_newest_snapshot_deleted_is_refused_until_accepted(
    place: tuple[Cli, StoredNames], tmp_path: Path
) -> None:
    cli, stored = place
    cli("init")
    first, second, third = backups(cli, 3)
    assert stored.names("snapshots/web-1") == [manifest(first), manifest(second), manifest(third)]
    stored.delete(manifest(third))
    target = tmp_path / "look"
    error = refused(cli, "restore", "latest", "--target", str(target))
    assert f"snapshot {third} of host web-1 is missing (this reader saw it" in error
    assert "--accept-missing" in error
    assert not target.exists()
    assert third in refused(cli, "restore", "--date", first[:8], "--target", str(target))
    assert third in refused(cli, "drill")
    found = cli("check", expect=14, one_line=False).stdout
    assert f"problem: snapshot {third} of host web-1 is missing" in found
    cli("restore", "latest", "--target", str(target), "--accept-missing")
    assert (target / "etc/nginx/nginx.conf").is_file()
    # Accepted: what is left is now the newest this machine has seen.
    assert "no problems found" in cli("check").stdout


def test_a_deleted_newest_snapshot_is_named_by_its_host_next_backup(
    cli: Cli, tmp_path: Path
) -> None:
    """A reader that never saw the deleted snapshot learns of it from the next manifest."""
    stored = local(cli)
    cli("init")
    _, second = backups(cli, 2)
    stored.delete(manifest(second))
    (third,) = backups(cli, 1)  # the host remembers what it wrote last
    reader = another_reader(cli, tmp_path, "reader")
    error = refused(reader, "restore", "latest", "--target", str(tmp_path / "look"))
    assert f"snapshot {second} of host web-1 is missing (snapshot {third} names it" in error
    assert second in reader("check", expect=14, one_line=False).stdout


def test_a_snapshot_deleted_in_the_middle_of_the_chain(cli: Cli, tmp_path: Path) -> None:
    stored = local(cli)
    cli("init")
    _, second, third = backups(cli, 3)
    stored.delete(manifest(second))
    reader = another_reader(cli, tmp_path, "reader")
    found = reader("check", expect=14, one_line=False).stdout
    assert f"snapshot {second} of host web-1 is missing (snapshot {third} names it" in found
    assert second in refused(reader, "restore", "latest", "--target", str(tmp_path / "look"))
    assert second in refused(cli, "drill")


def test_all_but_the_oldest_deleted(cli: Cli, tmp_path: Path) -> None:
    stored = local(cli)
    cli("init")
    first, second, third = backups(cli, 3)
    stored.delete(manifest(second))
    stored.delete(manifest(third))
    assert stored.names("snapshots/web-1") == [manifest(first)]
    error = refused(cli, "restore", "latest", "--target", str(tmp_path / "look"))
    assert f"snapshot {third} of host web-1 is missing (this reader saw it" in error
    assert third in cli("check", expect=14, one_line=False).stdout
    # The documented limit: a machine that never saw them, with no manifest left naming them,
    # cannot know.
    reader = another_reader(cli, tmp_path, "reader")
    reader("restore", "latest", "--target", str(tmp_path / "fresh"))


def test_forget_leaves_signed_tombstones_that_prune_keeps_while_named(
    place: tuple[Cli, StoredNames], tmp_path: Path
) -> None:
    cli, stored = place
    cli("init")
    first, second, third = backups(cli, 3)
    cli("forget", "--keep-last", "1", "--dry-run")
    assert stored.names("forgotten/web-1") == []
    cli("forget", "--keep-last", "1")
    assert stored.names("snapshots/web-1") == [manifest(third)]
    assert stored.names("forgotten/web-1") == [tombstone(first), tombstone(second)]
    assert len(stored.read(tombstone(second))) < 512
    cli("restore", "latest", "--target", str(tmp_path / "look"))
    reader = another_reader(cli, tmp_path, "reader")
    assert "no problems found" in reader("check").stdout
    cli("prune")  # the third names the second: only the first's tombstone goes
    assert stored.names("forgotten/web-1") == [tombstone(second)]
    (fourth,) = backups(cli, 1)
    cli("forget", "--keep-last", "1", "--prune")
    assert stored.names("snapshots/web-1") == [manifest(fourth)]
    assert stored.names("forgotten/web-1") == [tombstone(third)]
    assert "no problems found" in reader("check").stdout
    reader("drill", expect=27)  # past the chain: the sample host's drill finds its own problem


def forged(snapshot: str, key: bytes) -> bytes:
    """A tombstone as docs/FORMAT.md specifies it, signed with ``key`` (not the repository's)."""
    forgotten = "2025-01-07T02:15:00.000000Z"
    message = b"drtool tombstone\x00" + b"\x00".join(
        item.encode() for item in ("1", "web-1", snapshot, forgotten)
    )
    signature = hmac.new(key, message, hashlib.sha256).digest()
    document = {
        "format": 1,
        "host": "web-1",
        "snapshot": snapshot,
        "forgotten": forgotten,
        "signature": base64.b64encode(signature).decode(),
    }
    return json.dumps(document).encode()


def test_a_forged_tombstone_counts_for_nothing(
    place: tuple[Cli, StoredNames], tmp_path: Path
) -> None:
    cli, stored = place
    cli("init")
    first, second, third = backups(cli, 3)
    cli("forget", "--keep-last", "2")  # a real tombstone, of the first
    assert stored.names("forgotten/web-1") == [tombstone(first)]
    stored.delete(manifest(second))
    look = str(tmp_path / "look")
    for planted in (forged(second, os.urandom(32)), stored.read(tombstone(first)), b"\xff" * 9000):
        stored.write(tombstone(second), planted)
        error = refused(cli, "restore", "latest", "--target", look)
        assert f"snapshot {second} of host web-1 is missing (snapshot {third} names it" in error
        assert "counts for nothing" in error
    assert not Path(look).exists()
    found = cli("check", expect=14, one_line=False).stdout
    assert found.count("problem:") == 1, found
    assert f"the tombstone of snapshot {second} of host web-1 is malformed" in found


@pytest.mark.real_parts("faketime")
def test_a_future_dated_snapshot_pushes_nothing_out_of_keep_within(
    place: tuple[Cli, StoredNames], tmp_path: Path
) -> None:
    """bupstash #256: a host whose clock is ten years ahead (Debian's faketime) writes a snapshot
    dated then; `forget --keep-within 1d` must not count from it and remove today's."""
    cli, stored = place
    cli("init")
    (today,) = backups(cli, 1)
    ahead = subprocess.run(
        ["faketime", "-f", "+3650d", sys.executable, "-m", "drtool", "backup"],
        env=cli.environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert ahead[:4] > today[:4]
    (later,) = backups(cli, 1)
    said = cli("forget", "--keep-within", "1d").stdout
    assert "future-dated (not counted)" in said
    assert stored.names("snapshots/web-1") == [manifest(today), manifest(later), manifest(ahead)]
    assert stored.names("forgotten/web-1") == []
    cli("restore", "latest", "--target", str(tmp_path / "look"))
    assert "no problems found" in cli("check").stdout
