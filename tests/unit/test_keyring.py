"""Format 2's keys without the CLI: what a reader, a writer and a rotation can and cannot do."""

from __future__ import annotations

import io
import json

import pytest

from drtool import format as object_format
from drtool.errors import IntegrityError, KeyFileRefused, KeyUnavailable
from drtool.format import Binding
from drtool.keyring.access import ReaderKeys
from drtool.keyring.credential import new_writer, read_credential
from drtool.keyring.generation import Generation
from drtool.keyring.keyfile import new_key_file, parse_key_file
from drtool.keyring.signatures import sign_manifest, verified_manifest

KEK = bytes(range(32))
BINDING = Binding.manifest("web-1", "20250107T021500Z-3fa2c1d0")


def key_file(generations: dict[int, Generation]) -> bytes:
    return new_key_file("repo", "00" * 8, "passphrase", "t", KEK, generations, {})


def unlock(data: bytes) -> ReaderKeys:
    return parse_key_file(json.loads(data)).unlock(KEK)


def test_a_rotation_keeps_every_generation_and_wraps_to_the_newest() -> None:
    first = Generation.new(1)
    data = key_file({1: first})
    old = unlock(data)
    sealed_before = object_format.seal(old, BINDING, b"before")
    second = Generation.new(2)
    rotated = parse_key_file(json.loads(data)).with_generation(second, first)
    keys = unlock(rotated)
    assert sorted(keys.generations) == [1, 2]
    assert keys.current.secret == second.secret
    sealed_after = object_format.seal(keys, BINDING, b"after")
    assert object_format.unseal(keys, BINDING, io.BytesIO(sealed_before)) == b"before"
    assert object_format.unseal(keys, BINDING, io.BytesIO(sealed_after)) == b"after"
    with pytest.raises(IntegrityError):  # the old keys never received generation 2
        object_format.unseal(old, BINDING, io.BytesIO(sealed_after))
    assert keys.content_id_keys("web-1") == [
        second.content_id_key("web-1"),
        first.content_id_key("web-1"),
    ]


def test_a_generation_signed_by_no_operator_is_refused() -> None:
    first = Generation.new(1)
    data = key_file({1: first})
    forged = parse_key_file(json.loads(data)).with_generation(Generation.new(2), Generation.new(1))
    with pytest.raises(KeyFileRefused, match="not signed by the keyring"):
        unlock(forged)


def test_a_wrong_kek_is_a_wrong_passphrase() -> None:
    data = key_file({1: Generation.new(1)})
    with pytest.raises(KeyUnavailable, match="wrong passphrase"):
        parse_key_file(json.loads(data)).unlock(b"\x01" * 32)


def test_a_writer_wraps_signs_its_host_and_reads_nothing(tmp_path) -> None:
    keys = unlock(key_file({1: Generation.new(1)}))
    registration, credential = new_writer(keys, "repo", "web-1", "")
    path = tmp_path / "credential"
    path.write_bytes(credential)
    writer = read_credential(path).keys
    assert not writer.can_read
    sealed = object_format.seal(writer, BINDING, b"from the writer")
    assert object_format.unseal(keys, BINDING, io.BytesIO(sealed)) == b"from the writer"
    with pytest.raises(KeyUnavailable, match="can only write"):
        object_format.unseal(writer, BINDING, io.BytesIO(sealed))
    assert writer.content_id_key("web-1") == keys.content_id_key("web-1")
    with pytest.raises(KeyUnavailable):
        writer.content_id_key("web-2")
    envelope = sign_manifest(writer, "web-1", {"id": "x", "time": "2025"})
    assert verified_manifest(keys, "web-1", envelope, lambda _id: registration, "s") == {
        "id": "x",
        "time": "2025",
    }
    with pytest.raises(IntegrityError, match="not of host web-2"):
        verified_manifest(keys, "web-2", envelope, lambda _id: registration, "s")
    tampered = {**envelope, "manifest": {"id": "y", "time": "2025"}}
    with pytest.raises(IntegrityError, match="not signed"):
        verified_manifest(keys, "web-1", tampered, lambda _id: registration, "s")


def test_operator_records() -> None:
    first = Generation.new(1)
    keys = unlock(key_file({1: first}))
    signature = keys.sign_record(b"tombstone")
    keys.verify_record(b"tombstone", signature)
    with pytest.raises(IntegrityError):
        keys.verify_record(b"tombstone 2", signature)
    rotated = unlock(
        parse_key_file(json.loads(key_file({1: first}))).with_generation(Generation.new(2), first)
    )
    rotated.verify_record(b"tombstone", signature)  # signed before the rotation: still valid


def test_keys_never_show_in_a_repr() -> None:
    keys = unlock(key_file({1: Generation.new(1)}))
    assert repr(keys) == "ReaderKeys(<redacted>)"
    assert keys.current.secret.hex() not in repr(keys.current)
