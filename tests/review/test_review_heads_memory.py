"""Third review of the fleet view's memory (drtool/fleet_heads.py, SeenHeads in drtool/seen.py):
what someone who can write the storage, or who holds one host's writer credential, can do to
`drtool status`. Oracles: the memory file's own bytes, exit codes, the lines printed."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drtool import format as object_format
from drtool.errors import IntegrityError
from drtool.fleet_heads import read_heads
from drtool.format import Binding
from drtool.heads import RefusedHead
from drtool.keyring.credential import read_credential
from drtool.keyring.signatures import HEAD, _message, sign_manifest
from drtool.repository import Repository, init_repository
from drtool.seen import SEEN_DIRECTORY, SeenHeads
from drtool.store.s3 import S3Store
from tests.conftest import FAST_KDF, Cli, fixed_passphrase
from tests.e2e.test_key_commands import add_writer, repo
from tests.e2e.test_status_memory import attention, memory_file
from tests.support.fleet import Requests
from tests.support.s3 import TEST_OPTIONS, new_bucket


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


ODD_FOLDERS = [
    "..",
    ".",
    "",  # snapshots//x
    "héllo",
    "a\nb",
    "\x1b[31mred",
    "web-1%2F",
    "x" * 900,
    "‮evil",
]


def test_odd_folder_names_on_s3_are_problems_never_read_nor_remembered(
    moto_client: object, tmp_path: Path
) -> None:
    """Names S3 takes and no host has: each a one-line problem labelled printably, none read
    as a host's head, none remembered."""
    name = new_bucket(moto_client)
    store = S3Store(f"s3://{name}/drtool", TEST_OPTIONS, client=moto_client)
    init_repository(store, fixed_passphrase(), FAST_KDF)
    for folder in ODD_FOLDERS:
        key = f"drtool/snapshots/{folder}/20250107T021500Z-3fa2c1d0"
        moto_client.put_object(Bucket=name, Key=key, Body=b"x")  # type: ignore[attr-defined]
    for head in ("../x", "a/b", "", "é"):
        moto_client.put_object(Bucket=name, Key=f"drtool/heads/{head}", Body=b"x")  # type: ignore[attr-defined]
    repository = Repository.open(store, fixed_passphrase())
    memory = SeenHeads.load(tmp_path, repository.repository_id)
    heads = read_heads(repository, datetime.now(UTC), memory)
    assert all(isinstance(head, RefusedHead) for head in heads.values()), heads
    for head in heads.values():
        assert head.host.isprintable() and len(head.host) < 80, head
        assert head.problem.isprintable() and len(head.problem) < 200, head
    assert {"'..'", "'.'", "''", "'a\\nb'", "'web-1%2F'"} <= set(heads)
    assert not (tmp_path / SEEN_DIRECTORY).exists()


@pytest.mark.real_parts("faketime")
def test_a_check_from_a_machine_whose_clock_is_behind_is_not_a_put_back_head(
    backed_up: Cli,
) -> None:
    """Two operators' machines run `check` (or a drill), one's clock ten minutes behind: each
    reads the head it replaces, and the record it writes is not dated before that head."""
    cli = backed_up
    cli("check")
    cli("status")
    Cli(cli.environment, wrapper=("faketime", "-f", "-10m"))("check")
    cli("status")


def test_a_head_dated_at_the_end_of_time_does_not_stop_the_next_backup(
    backed_up: Cli, tmp_path: Path
) -> None:
    """A writer of web-1 signs a head dated 9999-12-31T23:59:59.999999Z: the next head, written
    just after it, cannot be dated later; it keeps that time, and the backup succeeds."""
    cli = backed_up
    keys = read_credential(add_writer(cli, tmp_path)).keys
    last = "9999-12-31T23:59:59.999999Z"
    plant_head(cli, keys, "web-1", {"host": "web-1", "updated": last})
    cli("status", expect=29)  # never backed up, as the head says
    cli("backup")
    cli("status")
    assert json.loads(memory_file(cli).read_text())["hosts"]["web-1"] < last


def test_a_head_signed_for_another_host_is_refused_and_not_remembered(
    backed_up: Cli, tmp_path: Path
) -> None:
    """web-1's writer signs a head naming web-2 (its own key, by hand: drtool's signer refuses)
    and seals it for web-2: a problem of web-2, never remembered, web-1 untouched."""
    cli = backed_up
    keys = read_credential(add_writer(cli, tmp_path)).keys
    head = {"host": "web-2", "updated": "2025-01-07T02:15:00.000000Z"}
    signed = {
        HEAD: head,
        "signer": f"writer:{keys.writer_id}",
        "signature": base64.b64encode(keys.signing_key.sign(_message(HEAD, head))).decode(),
    }
    sealed = object_format.seal(keys, Binding.host_head("web-2"), json.dumps(signed).encode())
    (repo(cli) / "heads/web-2").write_bytes(sealed)
    error = attention(cli)
    assert "web-2 (the status record of host web-2 is signed by the writer of host web-1" in error
    assert set(json.loads(memory_file(cli).read_text())["hosts"]) == {"web-1"}


@pytest.mark.real_parts("faketime")
@pytest.mark.parametrize(
    "ahead",
    [
        "+50m",
        pytest.param(
            "+2h",
            marks=pytest.mark.xfail(
                strict=True,
                reason="hole: a head is remembered no later than an hour past the reading "
                "machine's clock (drtool.heads.CLOCK_SKEW), so an older head put back of a host "
                "whose clock is further ahead is accepted while it is dated after that time",
            ),
        ),
    ],
)
def test_an_older_head_of_a_host_whose_clock_is_ahead_is_refused(
    backed_up: Cli, ahead: str
) -> None:
    """A host's clock fifty minutes ahead of the reader's (it was remembered at the reader's
    time, and the head put back accepted: exit 0, an older snapshot shown)."""
    cli = backed_up
    host = Cli(cli.environment, wrapper=("faketime", "-f", ahead))
    host("backup")
    kept = (repo(cli) / "heads/web-1").read_bytes()
    newest = host("backup").stdout.strip()
    assert newest in cli("status").stdout
    (repo(cli) / "heads/web-1").write_bytes(kept)  # validly signed, dated ahead
    assert "is older than one this machine read" in attention(cli)


def test_a_host_whose_snapshots_were_replaced_by_junk_needs_attention_once_checked(
    backed_up: Cli,
) -> None:
    """status reads no manifest (README, limits): junk named like a host's snapshots is found by
    `check`, and the failed check is then a problem status shows."""
    cli = backed_up
    for snapshot in (repo(cli) / "snapshots/web-1").iterdir():
        snapshot.write_bytes(b"junk")
    cli("check", expect=14, one_line=False)  # the oracle that reads them
    cli("status", expect=29)


def test_planted_host_folders_cost_listings_not_a_request_each(moto_client: object) -> None:
    """2,000 folders planted under snapshots/, named as hosts, no head: `status` knows from the
    listing of heads/ that none has a head, and sends no GET for them (it sent 2,000)."""
    name = new_bucket(moto_client)
    store = S3Store(f"s3://{name}/drtool", TEST_OPTIONS, client=moto_client)
    init_repository(store, fixed_passphrase(), FAST_KDF)
    for index in range(2000):
        key = f"drtool/snapshots/planted-{index:04d}/20250107T021500Z-3fa2c1d0"
        moto_client.put_object(Bucket=name, Key=key, Body=b"x")  # type: ignore[attr-defined]
    repository = Repository.open(store, fixed_passphrase())
    requests = Requests(moto_client)
    heads = read_heads(repository, datetime.now(UTC))
    assert len(heads) == 2000
    assert all("is missing, though it has snapshots" in head.problem for head in heads.values())  # type: ignore[union-attr]
    assert requests.take() == {"ListObjectsV2": 3}


def test_a_host_retired_on_purpose_leaves_status_once_its_line_is_deleted(
    backed_up: Cli,
) -> None:
    """The honest path README gives: head and snapshots deleted, then the host's line deleted
    from the memory by hand (an editor keeps the file's mode)."""
    cli = backed_up
    cli("status")
    (repo(cli) / "heads/web-1").unlink()
    for snapshot in (repo(cli) / "snapshots/web-1").iterdir():
        snapshot.unlink()
    assert "web-1 (the status record of host web-1 is gone" in attention(cli)
    path = memory_file(cli)
    document = json.loads(path.read_text())
    del document["hosts"]["web-1"]
    path.write_text(json.dumps(document))
    assert "0 host(s)" in cli("status").stdout
    assert json.loads(path.read_text())["hosts"] == {}


@pytest.mark.parametrize("repository_id", ["../../../tmp/x", "a/b", "", "x" * 65, "é"])
def test_a_hostile_repository_id_names_no_memory_file(tmp_path: Path, repository_id: str) -> None:
    with pytest.raises(IntegrityError, match="is malformed"):
        SeenHeads.load(tmp_path / "root", repository_id)
    assert list(tmp_path.iterdir()) == []


def test_the_memory_is_never_written_larger_than_it_is_read(tmp_path: Path) -> None:
    """16,000 hosts of 253 characters (format 1: every host holds the passphrase and may write
    a head under any name): the memory it wrote was 4.5 MiB, which the next `status` refused as
    damaged (exit 55). It keeps what it held instead."""
    first = {"web-1": "2025-01-07T02:15:00.000000Z"}
    SeenHeads.load(tmp_path, "a" * 32).remember(first)
    path = tmp_path / SEEN_DIRECTORY / f"{'a' * 32}.heads.json"
    kept = path.read_bytes()
    many = {f"h{index:0252d}": "2025-01-07T02:15:00.000000Z" for index in range(16_000)}
    SeenHeads.load(tmp_path, "a" * 32).remember(many)
    assert path.read_bytes() == kept
    assert SeenHeads.load(tmp_path, "a" * 32).written == first


def test_a_head_dated_years_ahead_is_not_followed_by_the_next_head(
    backed_up: Cli, tmp_path: Path
) -> None:
    """A stolen writer key of web-1 signs a head dated 2099. The operator's next backup (which
    reads the head it replaces) must not date its own head after it: that head, signed by the
    operator, would stay valid after the writer's revocation, and put back later it would look
    newer than any head `status` remembers."""
    cli = backed_up
    credential = add_writer(cli, tmp_path)
    keys = read_credential(credential).keys
    plant_head(cli, keys, "web-1", {"host": "web-1", "updated": "2099-01-01T00:00:00.000000Z"})
    cli("backup")
    laundered = (repo(cli) / "heads/web-1").read_bytes()
    cli("key", "remove", keys.writer_id)
    cli("backup")
    cli("status")
    (repo(cli) / "heads/web-1").write_bytes(laundered)  # put back: the operator signed it
    assert "is older than one this machine read" in attention(cli)
