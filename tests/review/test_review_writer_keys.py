"""Review of issue 14: what a stolen backup host's writer credential can still do (through
drtool's own code, as the stolen host would)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drtool import format as object_format
from drtool.format import Binding, ObjectType
from drtool.heads import record_backup_failure
from drtool.keyring.credential import read_credential
from drtool.keyring.signatures import HEAD, sign_manifest
from drtool.repository import manifest_name
from drtool.snapshot import new_snapshot_id, snapshot_time
from drtool.snapshot_index import index_name
from drtool.store.local import LocalStore
from drtool.timeutil import iso
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository
from tests.e2e.test_key_commands import (
    _manifest_document,
    add_writer,
    as_writer,
    repo,
    root,
    sha256_of_tree,
)


def _forge(cli: Cli, credential: Path, snapshot_id: str, time: str) -> None:
    """A manifest of web-1 with id ``snapshot_id`` and the ``time`` the writer claims, signed
    with the (revoked) credential."""
    keys = read_credential(credential).keys
    first = sorted((repo(cli) / "snapshots/web-1").iterdir())[0].name
    manifest = {**_manifest_document(cli, first), "id": snapshot_id, "time": time}
    payload = json.dumps(sign_manifest(keys, "web-1", manifest), sort_keys=True).encode()
    LocalStore(repo(cli)).put(
        manifest_name("web-1", snapshot_id),
        [object_format.seal(keys, Binding.manifest("web-1", snapshot_id), payload)],
    )


def test_a_revoked_writer_cannot_backdate_only_the_time_field_to_become_latest(
    cli: Cli, tmp_path: Path
) -> None:
    """The snapshot id orders `latest`; the `time` field is the writer's word. A revoked
    writer that names its manifest after its revocation but puts an old `time` in it must be
    refused, not restored as `latest`."""
    cli("init")
    credential = add_writer(cli, tmp_path)
    as_writer(cli, credential)("backup")
    writer_id = read_credential(credential).keys.writer_id
    cli("key", "remove", writer_id)
    late = new_snapshot_id(datetime.now(UTC) + timedelta(seconds=1))
    _forge(cli, credential, late, "2000-01-01T00:00:00.000000Z")
    before = sha256_of_tree(root(cli))
    refused = cli("restore", "latest", "--yes", expect=14)
    assert "revoked" in refused.stderr
    assert sha256_of_tree(root(cli)) == before
    assert "revoked" in cli("show", late, expect=14).stderr


def test_a_revoked_writer_cannot_use_a_time_that_is_not_a_time(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    credential = add_writer(cli, tmp_path)
    as_writer(cli, credential)("backup")
    cli("key", "remove", read_credential(credential).keys.writer_id)
    late = new_snapshot_id(datetime.now(UTC) + timedelta(seconds=1))
    _forge(cli, credential, late, "0")
    assert cli("show", late, expect=14).stderr.count("\n") == 1


def test_a_revoked_writer_cannot_roll_its_registration_back(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    credential = add_writer(cli, tmp_path)
    as_writer(cli, credential)("backup")
    writer_id = read_credential(credential).keys.writer_id
    registration = repo(cli) / "writers" / writer_id
    kept = registration.read_bytes()  # what the host read at every backup
    cli("show", "latest")  # a reader sees the writer's snapshots (and could see the revocation)
    cli("key", "remove", writer_id)
    cli("snapshots")
    registration.write_bytes(kept)
    late = new_snapshot_id(datetime.now(UTC) + timedelta(seconds=1))
    _forge(cli, credential, late, iso(snapshot_time(late) or datetime.now(UTC)))
    assert "revoked" in cli("show", late, expect=14).stderr


def _revocations_memory(cli: Cli) -> Path:
    (path,) = (root(cli) / "var/lib/drtool/seen").glob("*.revocations.json")
    return path


def test_a_fresh_reader_learns_the_revocation_from_the_signed_record(
    cli: Cli, tmp_path: Path
) -> None:
    """The registration put back, on a machine that never saw the revocation: the operators'
    signed record of revoked writers (`revocations`) still says it."""
    cli("init")
    credential = add_writer(cli, tmp_path)
    as_writer(cli, credential)("backup")
    writer_id = read_credential(credential).keys.writer_id
    registration = repo(cli) / "writers" / writer_id
    kept = registration.read_bytes()
    cli("key", "remove", writer_id)
    _revocations_memory(cli).unlink()  # a reader with no memory of this repository
    registration.write_bytes(kept)
    late = new_snapshot_id(datetime.now(UTC) + timedelta(seconds=1))
    _forge(cli, credential, late, iso(snapshot_time(late) or datetime.now(UTC)))
    assert "revoked" in cli("show", late, expect=14).stderr


def test_a_rolled_back_record_of_revoked_writers_is_refused(cli: Cli, tmp_path: Path) -> None:
    """The stolen host kept an older record too (or deletes it): a reader that saw the newer
    one refuses every writer's manifest, in one line, and restores nothing."""
    cli("init")
    stolen, other = add_writer(cli, tmp_path), add_writer(cli, tmp_path)
    as_writer(cli, stolen)("backup")
    writer_id = read_credential(stolen).keys.writer_id
    registration = repo(cli) / "writers" / writer_id
    kept = registration.read_bytes()
    cli("key", "remove", read_credential(other).keys.writer_id)  # the first record: the clock's
    record = repo(cli) / "revocations"
    older = record.read_bytes()
    first = json.loads(older)["sequence"]
    cli("key", "remove", writer_id)  # the next number
    assert json.loads(record.read_text())["sequence"] == first + 1
    registration.write_bytes(kept)
    record.write_bytes(older)
    late = new_snapshot_id(datetime.now(UTC) + timedelta(seconds=1))
    _forge(cli, stolen, late, iso(snapshot_time(late) or datetime.now(UTC)))
    before = sha256_of_tree(root(cli))
    refused = cli("restore", "latest", "--yes", expect=14)
    assert f"number {first}, older than number {first + 1}" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert sha256_of_tree(root(cli)) == before
    record.unlink()
    assert f"missing, older than number {first + 1}" in cli("show", late, expect=14).stderr
    memory = _revocations_memory(cli)
    assert memory.stat().st_mode & 0o777 == 0o600
    assert writer_id in json.loads(memory.read_text())["writers"]


def test_a_damaged_memory_of_revocations_is_not_trusted(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    credential = add_writer(cli, tmp_path)
    snapshot = as_writer(cli, credential)("backup").stdout.strip()
    cli("key", "remove", read_credential(credential).keys.writer_id)
    _revocations_memory(cli).write_text('{"format": 1, "sequence": "x"}')
    refused = cli("show", snapshot, expect=55)
    assert "move it aside" in refused.stderr and refused.stderr.count("\n") == 1
    _revocations_memory(cli).unlink()
    assert snapshot in cli("show", snapshot).stdout  # written before its revocation


def test_a_forged_record_of_revoked_writers_is_refused_then_rewritten(
    cli: Cli, tmp_path: Path
) -> None:
    """A record the storage's writer made (unsigned, a high number, nobody revoked) verifies
    nothing, and the operator's next `key remove` writes a signed one again."""
    cli("init")
    credential = add_writer(cli, tmp_path)
    snapshot = as_writer(cli, credential)("backup").stdout.strip()
    writer_id = read_credential(credential).keys.writer_id
    cli("key", "remove", writer_id)
    record = repo(cli) / "revocations"
    forged = {**json.loads(record.read_text()), "sequence": 99, "writers": {}}
    record.write_text(json.dumps(forged))
    refused = cli("show", snapshot, expect=14)
    assert "not signed by an operator key" in refused.stderr
    assert "already revoked" in cli("key", "remove", writer_id).stdout
    assert json.loads(record.read_text())["writers"].keys() == {writer_id}
    assert snapshot in cli("show", snapshot).stdout


def test_another_hosts_writer_cannot_forge_the_snapshot_index(cli: Cli, tmp_path: Path) -> None:
    """`index/<host>` is sealed as any object, which a writer can do for any host: what
    `snapshots` shows (and the order it shows them in) must not be a writer's word."""
    cli("init")
    cli("backup")
    cli("snapshots")  # the index of web-1, written by a reader
    (snapshot_id,) = (item.name for item in (repo(cli) / "snapshots/web-1").iterdir())
    thief = read_credential(add_writer(cli, tmp_path, host="web-2")).keys
    forged = [
        {
            "id": snapshot_id,
            "host": "web-1",
            "time": "2099-01-01T00:00:00.000000Z",
            "tags": ["verified-by-security"],
            "kinds": [],
            "absent": [],
            "size": 1,
            "stored_size": 1,
        }
    ]
    LocalStore(repo(cli)).put(
        index_name("web-1"),
        [
            object_format.seal(
                thief,
                Binding(ObjectType.HOST_HEAD, "web-1", "snapshots"),
                json.dumps(forged).encode(),
            )
        ],
    )
    listed = cli("snapshots", "--json")
    (shown,) = json.loads(listed.stdout)
    assert shown["tags"] != ["verified-by-security"]
    assert not shown["time"].startswith("2099")


def _seal_head(cli: Cli, keys: object, host: str, head: object) -> None:
    LocalStore(repo(cli)).put(
        f"heads/{host}",
        [object_format.seal(keys, Binding.host_head(host), json.dumps(head).encode())],  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "snapshot",
    [{"time": 5}, {"id": "x"}, "newest", {"time": "yesterday"}],
    ids=["time-not-text", "no-time", "not-an-object", "time-not-iso"],
)
def test_a_writers_malformed_status_record_is_a_one_line_error(
    cli: Cli, tmp_path: Path, snapshot: object
) -> None:
    """Even signed by web-1's own writer (a stolen web-1): web-1 needs attention, in one line."""
    cli("init")
    cli("backup")
    keys = read_credential(add_writer(cli, tmp_path)).keys
    head = {"host": "web-1", "snapshot": snapshot}
    _seal_head(cli, keys, "web-1", sign_manifest(keys, "web-1", head, HEAD))
    refused = cli("status", expect=29)
    assert "web-1 (the status record of host web-1 is unreadable)" in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_another_hosts_writer_cannot_silence_the_fleet_status(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    record_backup_failure(open_repository(cli), "web-1", 65)  # web-1's last backup failed
    cli("status", expect=29)
    thief = read_credential(add_writer(cli, tmp_path, host="web-2")).keys
    now = iso(datetime.now(UTC))
    fresh = {"id": new_snapshot_id(datetime.now(UTC)), "time": now, "tags": [], "size": 1}
    _seal_head(cli, thief, "web-1", {"host": "web-1", "snapshot": fresh})
    assert "web-1 (the status record of host web-1" in cli("status", expect=29).stderr


def test_a_credential_readable_by_others_is_said(cli: Cli, tmp_path: Path) -> None:
    """A writer credential is a secret as a passphrase file is: one others may read is
    warned about in one line (as a passphrase file), without a byte of it."""
    cli("init")
    credential = add_writer(cli, tmp_path)
    assert credential.stat().st_mode & 0o777 == 0o600
    credential.chmod(0o644)
    backed_up = as_writer(cli, credential)("backup")
    assert "readable by others" in backed_up.stderr
    secret = json.loads(credential.read_text())["signing_key"]
    assert secret not in backed_up.stderr + backed_up.stdout


def test_a_backup_after_its_packs_were_deleted_is_not_silently_broken(
    cli: Cli, tmp_path: Path
) -> None:
    """The files cache names packs someone deleted since: the writer's next backup finds them
    gone in its listing and stores those blobs again from the live files. Its snapshot alone
    passes `check --read-data` and restores the host's files byte for byte."""
    cli("init")
    writer = as_writer(cli, add_writer(cli, tmp_path))
    writer("backup")
    for pack in (repo(cli) / "packs").rglob("*"):
        if pack.is_file():
            pack.unlink()  # the stolen bucket (or the stolen host's storage credentials)
    second = writer("backup")
    assert "gone from the repository" in second.stderr
    cli("forget", "--keep-last", "1")  # the first snapshot is broken for good
    cli("check", "--read-data")
    target = tmp_path / "restored"
    cli("restore", second.stdout.strip(), "--target", str(target))
    restored = sha256_of_tree(target)
    assert "etc/redis/redis.conf" in restored
    live = sha256_of_tree(root(cli))
    assert {path: live.get(path) for path in restored} == restored
