"""The record of revoked writers (drtool/keyring/revocations.py) in a local directory against
docs/FORMAT.md ("Revoked writers"): the file read back as JSON, its signature checked with the
cryptography package over bytes written by hand, this machine's memory read from its file, and
every refusal word for word."""

from __future__ import annotations

import base64
import json
import logging
import time
from functools import partial
from pathlib import Path

import pytest

from drtool.errors import IntegrityError, KeyUnavailable
from drtool.keyring.access import ReaderKeys, WriterKeys
from drtool.keyring.generation import Generation
from drtool.keyring.registration import Registration
from drtool.keyring.revocations import (
    KnownRevocations,
    Revocations,
    parse_writers,
    read_revocations,
)
from drtool.seen import SeenRevocations
from drtool.store.local import LocalStore
from tests.support.keyring_oracle import check_signature, operator_key

REPOSITORY = "0123456789abcdef0123456789abcdef"
FIRST, SECOND = b"\x01" * 32, b"\x02" * 32
KEYS = ReaderKeys({1: Generation(1, FIRST), 2: Generation(2, SECOND)})
X, Y = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
EARLY, LATE = "2026-01-01T00:00:00.000000Z", "2026-02-01T00:00:00.000000Z"
DAMAGED = (
    "the record of revoked writers (revocations) is damaged (`drtool key remove` of a revoked "
    "writer, or `key rotate`, writes a new one)"
)
UNSIGNED = (
    "the record of revoked writers (revocations) is not signed by an operator key (`drtool key "
    "remove` of a revoked writer, or `key rotate`, writes a new one)"
)


def known(tmp_path: Path, keys: ReaderKeys = KEYS) -> KnownRevocations:
    store = LocalStore(tmp_path / "repo")
    store.path.mkdir(exist_ok=True)
    memory = partial(SeenRevocations.load, tmp_path / "host", REPOSITORY)
    return KnownRevocations(store, keys, REPOSITORY, memory)


def memory_file(tmp_path: Path) -> dict:
    path = tmp_path / "host/var/lib/drtool/seen" / f"{REPOSITORY}.revocations.json"
    return json.loads(path.read_text())


def registration(writer_id: str = X, revoked: str | None = None) -> Registration:
    return Registration(REPOSITORY, writer_id, "web-1", "", EARLY, 1, b"\x00" * 32, revoked)


def test_the_record_written_is_signed_over_the_bytes_format_md_gives(tmp_path: Path) -> None:
    before = time.time_ns() // 1000
    known(tmp_path).publish({Y: LATE, X: EARLY})
    after = time.time_ns() // 1000
    path = tmp_path / "repo/revocations"
    text = path.read_text()
    document = json.loads(text)
    assert text == json.dumps(document, indent=2) + "\n"
    signature = document.pop("signature")
    sequence = document["sequence"]
    assert before <= sequence <= after  # no number known: the clock in microseconds
    assert list(document["writers"]) == [X, Y]
    assert document == {
        "format": 2,
        "kind": "revocations",
        "repository_id": REPOSITORY,
        "sequence": sequence,
        "writers": {X: EARLY, Y: LATE},
    }
    message = (
        b"drtool v2 operator record\x00drtool revocations\x00"
        b'{"format":2,"kind":"revocations","repository_id":"' + REPOSITORY.encode() + b'",'
        b'"sequence":' + str(sequence).encode() + b","
        b'"writers":{"'
        + X.encode()
        + b'":"'
        + EARLY.encode()
        + b'","'
        + Y.encode()
        + b'":"'
        + LATE.encode()
        + b'"}}'
    )
    check_signature(operator_key(SECOND).public_key(), signature, message)
    assert memory_file(tmp_path) == {
        "format": 1,
        "repository_id": REPOSITORY,
        "sequence": sequence,
        "writers": {X: EARLY, Y: LATE},
    }
    # the next one: one more, with every writer so far, each at its earliest time
    known(tmp_path).publish({X: LATE})
    again = json.loads(path.read_text())
    assert (again["sequence"], again["writers"]) == (sequence + 1, {X: EARLY, Y: LATE})
    assert read_revocations(LocalStore(tmp_path / "repo"), KEYS, REPOSITORY) == Revocations(
        sequence + 1, {X: EARLY, Y: LATE}
    )


def test_a_record_is_read_with_any_generations_signature(tmp_path: Path) -> None:
    older = ReaderKeys({1: Generation(1, FIRST)})
    known(tmp_path, older).publish({X: EARLY})
    found = read_revocations(LocalStore(tmp_path / "repo"), KEYS, REPOSITORY)
    assert found.writers == {X: EARLY}
    with pytest.raises(IntegrityError) as refused:  # the same record for another repository
        read_revocations(LocalStore(tmp_path / "repo"), KEYS, "f" * 32)
    assert str(refused.value) == UNSIGNED
    stranger = ReaderKeys({1: Generation(1, b"\x03" * 32)})
    with pytest.raises(IntegrityError) as refused:
        read_revocations(LocalStore(tmp_path / "repo"), stranger, REPOSITORY)
    assert str(refused.value) == UNSIGNED


def test_no_record_is_number_0_and_nobody(tmp_path: Path) -> None:
    assert known(tmp_path).current() == Revocations(0, {})
    assert Revocations() == Revocations(0, {})


def write_record(tmp_path: Path, change) -> None:
    known(tmp_path).publish({X: EARLY})
    path = tmp_path / "repo/revocations"
    document = json.loads(path.read_text())
    path.write_bytes(change(document))


def signed_with(sequence: object, writers: object = None, *, repository: str = REPOSITORY):
    """A record signed by an operator key with any fields (the hostile writer of the storage
    is not one; this proves the checks before the signature)."""
    fields = {
        "format": 2,
        "kind": "revocations",
        "repository_id": repository,
        "sequence": sequence,
        "writers": {X: EARLY} if writers is None else writers,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    signature = operator_key(SECOND).sign(
        b"drtool v2 operator record\x00drtool revocations\x00" + canonical
    )
    return lambda _document: json.dumps(
        {**fields, "signature": base64.b64encode(signature).decode()}
    ).encode()


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (lambda document: b"[" * 100_000, DAMAGED),
        (lambda document: b"not json", DAMAGED),
        (lambda document: json.dumps({**document, "sequence": 0}).encode(), DAMAGED),
        (signed_with(0), DAMAGED),
        (signed_with(-1), DAMAGED),
        (signed_with(True), DAMAGED),
        (signed_with("1"), DAMAGED),
        (signed_with(1.0), DAMAGED),
        (signed_with(1, ["x"]), DAMAGED),
        (signed_with(1, {"x": EARLY}), DAMAGED),
        (signed_with(1, {X: "2026-01-01"}), DAMAGED),
        (lambda document: json.dumps({**document, "writers": {X: 1}}).encode(), DAMAGED),
        (lambda document: json.dumps({"sequence": 1, "writers": {}}).encode(), DAMAGED),
        (lambda document: json.dumps({"sequence": 1, "signature": ""}).encode(), DAMAGED),
        (
            lambda document: json.dumps(
                {**document, "signature": "*" + document["signature"]}
            ).encode(),
            DAMAGED,
        ),
        (lambda document: json.dumps({**document, "signature": None}).encode(), UNSIGNED),
        (lambda document: json.dumps({**document, "writers": {}}).encode(), UNSIGNED),
        (lambda document: json.dumps({**document, "sequence": 10**18}).encode(), UNSIGNED),
        (lambda document: json.dumps({**document, "repository_id": "x"}).encode(), None),
        (lambda document: json.dumps(document).encode() + b" " * (1024 * 1024), DAMAGED),
        (signed_with(1), None),
        (signed_with(1, {}), None),
        (signed_with(1, repository="f" * 32), UNSIGNED),
    ],
    ids=[
        "too-deep",
        "not-json",
        "sequence-0-unsigned",
        "sequence-0",
        "sequence-negative",
        "sequence-a-boolean",
        "sequence-text",
        "sequence-a-float",
        "writers-a-list",
        "a-writer-not-an-id",
        "a-time-not-iso",
        "a-time-not-text",
        "no-signature",
        "no-writers",
        "signature-with-junk",
        "signature-null",
        "a-writer-dropped",
        "the-number-raised",
        "repository-field-not-read",
        "over-1-MiB",
        "sequence-1",
        "nobody-revoked",
        "another-repositorys",
    ],
)
def test_a_damaged_or_forged_record_is_refused_word_for_word(
    tmp_path: Path, change, line: str | None
) -> None:
    write_record(tmp_path, change)
    reader = KnownRevocations(LocalStore(tmp_path / "repo"), KEYS, REPOSITORY)
    if line is None:  # accepted: the fields the signature covers are the reader's own
        assert reader.current().sequence >= 1
        return
    with pytest.raises(IntegrityError) as refused:
        reader.current()
    assert str(refused.value) == line


def test_exactly_1_MiB_is_read(tmp_path: Path) -> None:
    def padded(document: dict) -> bytes:
        data = json.dumps(document).encode()
        return data + b" " * (1024 * 1024 - len(data))

    write_record(tmp_path, padded)
    assert (tmp_path / "repo/revocations").stat().st_size == 1024 * 1024
    assert KnownRevocations(LocalStore(tmp_path / "repo"), KEYS, REPOSITORY).current().writers == {
        X: EARLY
    }


def test_a_record_older_than_the_one_remembered_or_gone_is_refused(tmp_path: Path) -> None:
    known(tmp_path).publish({X: EARLY})
    path = tmp_path / "repo/revocations"
    first = path.read_bytes()
    sequence = json.loads(first)["sequence"]
    known(tmp_path).publish({Y: LATE})
    assert known(tmp_path).current() == Revocations(sequence + 1, {X: EARLY, Y: LATE})
    path.write_bytes(first)  # rolled back
    with pytest.raises(IntegrityError) as refused:
        known(tmp_path).current()
    assert str(refused.value) == (
        f"the record of revoked writers (revocations) is number {sequence}, older than number "
        f"{sequence + 1} this machine saw: rolled back or deleted by someone who can write the "
        "storage (`drtool key remove` of a revoked writer, or `key rotate`, writes a new one)"
    )
    path.unlink()
    with pytest.raises(IntegrityError) as refused:
        known(tmp_path).current()
    assert str(refused.value) == (
        f"the record of revoked writers (revocations) is missing, older than number "
        f"{sequence + 1} this machine saw: rolled back or deleted by someone who can write the "
        "storage (`drtool key remove` of a revoked writer, or `key rotate`, writes a new one)"
    )


def test_the_same_number_as_remembered_is_read_and_merged(tmp_path: Path) -> None:
    reader = known(tmp_path)
    reader.publish({X: LATE})
    sequence = json.loads((tmp_path / "repo/revocations").read_text())["sequence"]
    SeenRevocations.load(tmp_path / "host", REPOSITORY).remember(Revocations(0, {X: EARLY}))
    current = known(tmp_path).current()
    assert current == Revocations(sequence, {X: EARLY})
    assert known(tmp_path).applied(registration(X)).revoked == EARLY


def test_a_reader_remembers_the_record_and_a_registrations_revocation(tmp_path: Path) -> None:
    known(tmp_path).publish({X: LATE})
    sequence = json.loads((tmp_path / "repo/revocations").read_text())["sequence"]
    (tmp_path / "host/var/lib/drtool/seen" / f"{REPOSITORY}.revocations.json").unlink()
    reader = known(tmp_path)
    assert reader.applied(registration(X)).revoked == LATE  # the record's
    assert reader.applied(registration(X, revoked=EARLY)).revoked == EARLY  # its own, earlier
    assert reader.applied(registration(Y, revoked=LATE)).revoked == LATE  # the record has none
    assert reader.applied(registration(Y)) == registration(Y)  # never revoked
    assert memory_file(tmp_path) == {
        "format": 1,
        "repository_id": REPOSITORY,
        "sequence": sequence,
        "writers": {X: EARLY, Y: LATE},
    }
    assert reader.current() is reader.current()  # read once per command


def test_a_revocation_is_the_earlier_of_the_registrations_and_the_records() -> None:
    record = Revocations(3, {X: EARLY})
    assert record.revoked(registration(X, revoked=LATE)).revoked == EARLY
    assert record.revoked(registration(X, revoked=EARLY)).revoked == EARLY
    assert Revocations(3, {X: LATE}).revoked(registration(X, revoked=EARLY)).revoked == EARLY
    # a registration's revocation that is not a time: the record's counts
    assert record.revoked(registration(X, revoked="soon")).revoked == EARLY
    assert record.revoked(registration(Y, revoked="soon")).revoked == "soon"


def test_merged_keeps_the_higher_number_and_the_earlier_time() -> None:
    one, two = Revocations(5, {X: LATE}), Revocations(2, {X: EARLY, Y: LATE})
    assert one.merged(two) == Revocations(5, {X: EARLY, Y: LATE})
    assert two.merged(one) == Revocations(5, {X: EARLY, Y: LATE})
    assert one.merged(Revocations(9, {X: LATE})) == Revocations(9, {X: LATE})


def test_parse_writers() -> None:
    assert parse_writers({X: EARLY}) == {X: EARLY}
    for value in ([X], {X.upper(): EARLY}, {X: "2026"}, "x"):
        with pytest.raises(ValueError):
            parse_writers(value)


def test_a_writer_cannot_publish_and_a_damaged_record_is_rewritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalStore(tmp_path / "repo")
    store.path.mkdir()
    writer = WriterKeys("web-1", X, 1, b"\x00" * 32, b"\x00" * 32, None)  # type: ignore[arg-type]
    with pytest.raises(KeyUnavailable, match=r"^only an operator key signs the record of revoked"):
        KnownRevocations(store, writer, REPOSITORY).publish({X: EARLY})  # type: ignore[arg-type]
    known(tmp_path).publish({X: EARLY})
    sequence = json.loads((tmp_path / "repo/revocations").read_text())["sequence"]
    (tmp_path / "repo/revocations").write_text("damaged")
    with caplog.at_level(logging.WARNING):
        known(tmp_path).publish({Y: LATE})  # on top of what this machine remembers
    assert f"{DAMAGED}: rewritten from what this machine knows" in caplog.messages
    document = json.loads((tmp_path / "repo/revocations").read_text())
    assert (document["sequence"], document["writers"]) == (sequence + 1, {X: EARLY, Y: LATE})


def test_a_registrations_revocation_is_remembered_with_no_record_number(tmp_path: Path) -> None:
    reader = known(tmp_path)
    assert reader.applied(registration(X, revoked=EARLY)).revoked == EARLY
    # number 0: a record this machine never saw is not expected (none exists)
    assert memory_file(tmp_path)["sequence"] == 0
    assert known(tmp_path).current() == Revocations(0, {X: EARLY})


def test_a_machine_with_no_memory_writes_on_top_of_the_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalStore(tmp_path / "repo")
    store.path.mkdir()
    KnownRevocations(store, KEYS, REPOSITORY).publish({X: EARLY})
    sequence = json.loads((tmp_path / "repo/revocations").read_text())["sequence"]
    with caplog.at_level(logging.WARNING):
        KnownRevocations(store, KEYS, REPOSITORY).publish({Y: LATE})
    assert not caplog.messages
    document = json.loads((tmp_path / "repo/revocations").read_text())
    assert (document["sequence"], document["writers"]) == (sequence + 1, {X: EARLY, Y: LATE})


def test_the_record_published_is_the_one_the_command_goes_on_with(tmp_path: Path) -> None:
    reader = known(tmp_path)
    reader.publish({X: EARLY})
    sequence = json.loads((tmp_path / "repo/revocations").read_text())["sequence"]
    (tmp_path / "repo/revocations").unlink()  # not read again in this command
    assert reader.current() == Revocations(sequence, {X: EARLY})
