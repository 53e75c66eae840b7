"""`drtool key ...`'s operations (drtool/keyring/manage.py) on a local format-2 repository,
without the CLI: the files they write read back from disk (key files, registrations, the record
of revoked writers), and what a key file or registration planted by someone who can write the
storage gets: never a generation, never counted as a reader."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from drtool.errors import KeyFileRefused, KeyUnavailable
from drtool.keyring.credential import read_credential
from drtool.keyring.generation import Generation
from drtool.keyring.keyfile import new_key_file
from drtool.keyring.manage import (
    add_passphrase_key,
    add_writer,
    list_keys,
    reader_keys,
    remove_key,
    rotate,
)
from drtool.keys import KeyFileHeader, wrap_master_secret
from drtool.repository import Repository
from drtool.timeutil import utc_now_iso
from tests.conftest import FAST_KDF, fixed_passphrase

PLANTED = "0000000000000000"


def on_disk(repository: Repository, name: str) -> dict:
    return json.loads((Path(repository.store.location) / name).read_text())


def plant(repository: Repository) -> bytes:
    """A key file of a keyring of the planter's own, put in keys/ (its maker's word only)."""
    data = new_key_file(
        repository.repository_id,
        PLANTED,
        "passphrase",
        "x\x1b[2J",
        bytes(32),
        {1: Generation.new(1)},
        {},
    )
    repository.store.put(f"keys/{PLANTED}", [data])
    return data


def test_a_rotation_gives_the_next_generation_to_endorsed_key_files_only(
    repository: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    planted = plant(repository)
    writer_id, _credential = add_writer(repository, "web-1", "")
    own = reader_keys(repository).key_id
    with caplog.at_level(logging.WARNING):
        rotation = rotate(repository)
    assert (rotation.generation, rotation.key_files) == (2, 1)
    assert (rotation.revoked_hosts, rotation.kept_hosts) == (("web-1",), ())
    assert (
        f"key file {PLANTED} was not made by a reader of this repository: it is not given the "
        f"new generation (remove it: drtool key remove {PLANTED})" in caplog.messages
    )
    assert (Path(repository.store.location) / f"keys/{PLANTED}").read_bytes() == planted
    entries = on_disk(repository, f"keys/{own}")["generations"]
    assert [entry["generation"] for entry in entries] == [1, 2]
    registration = on_disk(repository, f"writers/{writer_id}")
    record = on_disk(repository, "revocations")
    assert registration["revoked"] is not None
    assert record["writers"] == {writer_id: registration["revoked"]}


def test_a_rotation_keeping_writers_revokes_none(repository: Repository) -> None:
    writer_id, _ = add_writer(repository, "web-1", "")
    rotation = rotate(repository, keep_writers=True)
    assert (rotation.revoked_hosts, rotation.kept_hosts) == ((), ("web-1",))
    assert on_disk(repository, f"writers/{writer_id}")["revoked"] is None
    assert on_disk(repository, "revocations")["writers"] == {}


def test_a_rotation_refuses_an_endorsed_key_file_that_lacks_a_generation(
    repository: Repository,
) -> None:
    second = add_passphrase_key(repository, b"other", "second", FAST_KDF)
    before = (Path(repository.store.location) / f"keys/{second}").read_bytes()
    rotate(repository)
    (Path(repository.store.location) / f"keys/{second}").write_bytes(before)  # put back
    own = reader_keys(repository).key_id
    written = (Path(repository.store.location) / f"keys/{own}").read_bytes()
    reopened = Repository.open(repository.store, fixed_passphrase())
    with pytest.raises(KeyFileRefused) as refused:
        rotate(reopened)
    assert str(refused.value) == f"key file {second} lacks a generation: refused"
    assert (Path(repository.store.location) / f"keys/{own}").read_bytes() == written


def test_the_last_key_that_can_read_is_never_removed(repository: Repository) -> None:
    plant(repository)  # a planted key file is not one that can read
    own = reader_keys(repository).key_id
    with pytest.raises(KeyUnavailable) as refused:
        remove_key(repository, own)
    assert str(refused.value) == (
        f"key {own} is the last key that can read this repository: refused (add another with "
        "`drtool key add` first)"
    )
    assert remove_key(repository, PLANTED) == f"removed key {PLANTED}"
    assert not (Path(repository.store.location) / f"keys/{PLANTED}").exists()
    with pytest.raises(KeyUnavailable) as refused:
        remove_key(repository, "x" * 50)
    assert str(refused.value) == (f"no key {'x' * 40!r} in this repository (see `drtool key list`)")


def test_removing_a_writer_revokes_it_once(repository: Repository) -> None:
    writer_id, _ = add_writer(repository, "web-1", "")
    assert remove_key(repository, writer_id) == f"revoked writer {writer_id} of host web-1"
    revoked = on_disk(repository, f"writers/{writer_id}")["revoked"]
    assert on_disk(repository, "revocations")["writers"] == {writer_id: revoked}
    reopened = Repository.open(repository.store, fixed_passphrase())  # the next command
    assert remove_key(reopened, writer_id) == (
        f"writer {writer_id} of host web-1 was already revoked {revoked}"
    )
    assert reopened.registration(writer_id).revoked == revoked


def test_a_planted_key_file_is_listed_unendorsed_and_its_label_made_printable(
    repository: Repository,
) -> None:
    plant(repository)
    writer_id, _ = add_writer(repository, "web-1", "rack")
    rows = {row["id"]: row for row in list_keys(repository)}
    assert (rows[PLANTED]["endorsed"], rows[PLANTED]["label"]) == (False, "x?[2J")
    own = rows[reader_keys(repository).key_id]
    assert (own["endorsed"], own["kind"], own["generations"]) == (True, "passphrase", 1)
    assert own["last_used"] is not None and rows[PLANTED]["last_used"] is None
    writer = rows[writer_id]
    assert (writer["kind"], writer["host"], writer["label"], writer["revoked"]) == (
        "writer",
        "web-1",
        "rack",
        None,
    )


def test_a_planted_registration_is_skipped_with_its_name(
    repository: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    writer_id, _ = add_writer(repository, "web-1", "")
    document = on_disk(repository, f"writers/{writer_id}")
    repository.store.put(
        f"writers/{PLANTED}", [json.dumps({**document, "writer_id": PLANTED}).encode()]
    )
    with caplog.at_level(logging.WARNING):
        rotation = rotate(repository)
    assert rotation.revoked_hosts == ("web-1",)
    assert (
        f"writer registration {PLANTED} is not signed by the keyring: skipped (remove "
        f"writers/{PLANTED})"
    ) in caplog.messages


def test_a_rotation_keeps_a_revoked_writer_in_the_record_at_its_time(
    repository: Repository,
) -> None:
    writer_id, _ = add_writer(repository, "web-1", "")
    remove_key(repository, writer_id)
    revoked = on_disk(repository, f"writers/{writer_id}")["revoked"]
    rotation = rotate(Repository.open(repository.store, fixed_passphrase()))
    assert rotation.revoked_hosts == ()
    assert on_disk(repository, "revocations")["writers"] == {writer_id: revoked}


def test_a_damaged_record_is_said_and_rewritten_when_a_writer_is_removed(
    repository: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    writer_id, _ = add_writer(repository, "web-1", "")
    (Path(repository.store.location) / "revocations").write_text("damaged")
    with caplog.at_level(logging.WARNING):
        remove_key(repository, writer_id)
    damaged = (
        "the record of revoked writers (revocations) is damaged (`drtool key remove` of a revoked "
        "writer, or `key rotate`, writes a new one)"
    )
    assert caplog.messages == [damaged, f"{damaged}: rewritten from what this machine knows"]
    revoked = on_disk(repository, f"writers/{writer_id}")["revoked"]
    assert on_disk(repository, "revocations")["writers"] == {writer_id: revoked}


def test_key_commands_refuse_a_format_1_repository_and_a_writer_word_for_word(
    repository: Repository, format1_repository: Repository, tmp_path: Path
) -> None:
    with pytest.raises(KeyUnavailable) as refused:
        list_keys(format1_repository)
    assert str(refused.value) == (
        "this repository is format 1 (one master key): `drtool key` manages format 2; make a new "
        "repository with `drtool init` to use it"
    )
    _writer_id, credential = add_writer(repository, "web-1", "")
    (tmp_path / "credential").write_bytes(credential)
    writer = Repository.open_writer(repository.store, read_credential(tmp_path / "credential"))
    with pytest.raises(KeyUnavailable) as refused:
        list_keys(writer)
    assert str(refused.value) == "this host's credential can only write: it cannot manage keys"


def test_a_format_1_key_file_in_a_format_2_repository_is_named_and_skipped(
    repository: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    header = KeyFileHeader(repository.repository_id, 1, "22" * 8)
    repository.store.put(
        f"keys/{'22' * 8}", [wrap_master_secret(b"\x05" * 32, b"x", header, FAST_KDF)]
    )
    with caplog.at_level(logging.WARNING):
        rows = list_keys(repository)
    assert [row["id"] for row in rows] == [reader_keys(repository).key_id]
    assert caplog.messages == [
        f"keys/{'22' * 8} refused and skipped: a format-1 key file in a format-2 repository"
    ]


def test_key_list_rows(repository: Repository) -> None:
    """Every field `drtool key list` prints, against the files on disk; a writer's last use is
    its host's newest snapshot (not another host's)."""
    writer_id, _ = add_writer(repository, "web-1", "rack")
    for name in (
        "web-1/20250101T000000Z-00000001",
        "web-1/20250103T000000Z-00000003",
        "web-1/20250102T000000Z-00000002",
        "web-2/20260101T000000Z-0000000a",
    ):
        repository.store.put(f"snapshots/{name}", [b"x"])
    own = reader_keys(repository).key_id
    key_file = on_disk(repository, f"keys/{own}")
    before = utc_now_iso()
    rows = list_keys(repository)
    after = utc_now_iso()
    last_used = rows[0].pop("last_used")
    assert before <= last_used <= after
    registration = on_disk(repository, f"writers/{writer_id}")
    assert rows == [
        {
            "id": own,
            "label": key_file["label"],
            "kind": "passphrase",
            "host": None,
            "created": key_file["created"],
            "generations": 1,
            "revoked": None,
            "endorsed": True,
        },
        {
            "id": writer_id,
            "label": "rack",
            "kind": "writer",
            "host": "web-1",
            "created": registration["created"],
            "last_used": "20250103T000000Z-00000003",
            "generations": 1,
            "revoked": None,
            "endorsed": True,
        },
    ]
    remove_key(repository, writer_id)
    writer = list_keys(Repository.open(repository.store, fixed_passphrase()))[1]
    assert writer["revoked"] == on_disk(repository, f"writers/{writer_id}")["revoked"]
    repository.store.delete("snapshots/web-1/20250103T000000Z-00000003")
    repository.store.delete("snapshots/web-1/20250102T000000Z-00000002")
    repository.store.delete("snapshots/web-1/20250101T000000Z-00000001")
    assert list_keys(repository)[1]["last_used"] is None


def test_a_skipped_writers_name_is_cut_at_32_characters(
    repository: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    repository.store.put(f"writers/{'y' * 40}", [b"{}"])
    with caplog.at_level(logging.WARNING):
        assert list_keys(repository)[1:] == []
    assert caplog.messages == [f"{'y' * 40!r} is not a key id: skipped (remove writers/{'y' * 32})"]


def test_a_nested_copy_of_a_registration_is_no_second_writer(
    repository: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    writer_id, _ = add_writer(repository, "web-1", "")
    copy = (Path(repository.store.location) / f"writers/{writer_id}").read_bytes()
    repository.store.put(f"writers/extra/{writer_id}", [copy])
    skipped = f"'extra/{writer_id}' is not a key id: skipped (remove writers/extra/{writer_id})"
    with caplog.at_level(logging.WARNING):
        assert [row["id"] for row in list_keys(repository)][1:] == [writer_id]
        assert rotate(repository).revoked_hosts == ("web-1",)
    assert caplog.messages == [skipped, skipped]


def test_a_nested_key_file_is_removed_by_its_whole_name_only(repository: Repository) -> None:
    nested = Path(repository.store.location) / f"keys/extra/{PLANTED}"
    repository.store.put(f"keys/extra/{PLANTED}", [b"{}"])
    with pytest.raises(KeyUnavailable) as refused:
        remove_key(repository, PLANTED)
    assert str(refused.value) == f"no key {PLANTED!r} in this repository (see `drtool key list`)"
    assert nested.exists()
    assert remove_key(repository, f"extra/{PLANTED}") == f"removed key extra/{PLANTED}"
    assert not nested.exists()
