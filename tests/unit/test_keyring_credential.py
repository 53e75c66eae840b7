"""A writer credential (drtool/keyring/credential.py) and the write-only keys (access.py): the
files on disk read back directly (JSON, mode), the keys in them derived by hand from
docs/FORMAT.md, and every damaged or misplaced credential refused word for word."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from drtool.errors import (
    ConfigError,
    IntegrityError,
    KeyFileRefused,
    KeyUnavailable,
    UnsupportedFormat,
)
from drtool.keyring.access import ReaderKeys
from drtool.keyring.credential import new_writer, read_credential, write_credential
from drtool.keyring.generation import Generation
from drtool.timeutil import parse_iso, utc_now
from tests.support.keyring_oracle import hkdf

FIRST, SECOND = b"\x01" * 32, b"\x02" * 32
KEYS = ReaderKeys({1: Generation(1, FIRST), 2: Generation(2, SECOND)})
REPOSITORY = "0123456789abcdef0123456789abcdef"


def raw(key) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_new_writer_holds_the_newest_generations_public_key_and_its_hosts_id_key() -> None:
    before = utc_now()
    registration, data = new_writer(KEYS, REPOSITORY, "web-1", "rack 4")
    document = json.loads(data)
    assert data == json.dumps(document, indent=2).encode() + b"\n"
    signing = Ed25519PrivateKey.from_private_bytes(base64.b64decode(document["signing_key"]))
    reader = X25519PrivateKey.from_private_bytes(hkdf(SECOND, b"drtool v2 reader key"))
    id_key = hkdf(hkdf(SECOND, b"drtool v2 id secret"), b"drtool v2 content id" + b"web-1")
    assert document == {
        "format": 2,
        "kind": "writer credential",
        "repository_id": REPOSITORY,
        "writer_id": document["writer_id"],
        "host": "web-1",
        "generation": 2,
        "reader_public": b64(raw(reader)),
        "content_id_key": b64(id_key),
        "signing_key": document["signing_key"],
    }
    assert len(document["writer_id"]) == 16 and int(document["writer_id"], 16) >= 0
    assert (
        registration.repository_id,
        registration.writer_id,
        registration.host,
        registration.label,
        registration.generation,
        registration.signing_public,
        registration.revoked,
    ) == (REPOSITORY, document["writer_id"], "web-1", "rack 4", 2, raw(signing), None)
    assert before <= parse_iso(registration.created) <= utc_now()
    other, _ = new_writer(KEYS, REPOSITORY, "web-1", "")
    assert other.writer_id != registration.writer_id
    with pytest.raises(ConfigError, match="is not valid"):
        new_writer(KEYS, REPOSITORY, "../web", "")


def test_a_credential_is_written_0600_once_and_never_through_a_link(tmp_path: Path) -> None:
    path = tmp_path / "credential"
    write_credential(path, b"secret")
    assert path.read_bytes() == b"secret"
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError) as refused:
        write_credential(path, b"other")
    assert str(refused.value) == f"{path} exists: choose another --output"
    assert path.read_bytes() == b"secret"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target")  # dangling: following it would create target
    with pytest.raises(ConfigError) as refused:
        write_credential(link, b"other")
    assert str(refused.value) == f"{link} exists: choose another --output"
    assert not (tmp_path / "target").exists()
    missing = tmp_path / "no" / "credential"
    with pytest.raises(ConfigError) as refused:
        write_credential(missing, b"other")
    assert str(refused.value) == f"cannot write {missing}: No such file or directory"


def written(tmp_path: Path, document: dict | bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "credential"
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    path.write_bytes(data)
    path.chmod(mode)
    return path


def credential() -> dict:
    return json.loads(new_writer(KEYS, REPOSITORY, "web-1", "")[1])


def test_a_credential_read_back_writes_only_for_its_host(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    document = credential()
    with caplog.at_level(logging.WARNING):
        read = read_credential(written(tmp_path, document))
    assert not caplog.messages
    keys = read.keys
    assert read.repository_id == REPOSITORY
    assert (keys.host, keys.writer_id, keys.generation) == ("web-1", document["writer_id"], 2)
    assert b64(keys.reader_public) == document["reader_public"]
    assert b64(keys.signing_key.private_bytes_raw()) == document["signing_key"]
    assert keys.content_id_keys("web-1") == [base64.b64decode(document["content_id_key"])]
    with pytest.raises(KeyUnavailable) as refused:
        keys.content_id_keys("web-2")
    assert str(refused.value) == "this credential writes for host web-1 only, not web-2"
    with pytest.raises(KeyUnavailable) as refused:
        keys.sign_record(b"x")
    assert str(refused.value) == "a writer credential cannot sign an operator's record"
    with pytest.raises(KeyUnavailable) as refused:
        keys.verify_record(b"x", b"")
    assert str(refused.value) == (
        "this host's credential can only write: it decrypts nothing in the repository"
    )
    with pytest.raises(IntegrityError) as failed:
        KEYS.verify_record(b"x", bytes(64))
    assert str(failed.value) == "an operator record failed authentication"


@pytest.mark.parametrize(
    ("mode", "warned"),
    [(0o600, False), (0o400, False), (0o700, False), (0o640, True), (0o604, True)],
)
def test_a_credential_readable_by_others_is_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, warned: bool
) -> None:
    path = written(tmp_path, credential(), mode)
    with caplog.at_level(logging.WARNING):
        read_credential(path)
    expected = [f"key file {path} is readable by others; chmod 600 it"] if warned else []
    assert caplog.messages == expected


def refusal(tmp_path: Path, document: dict | bytes, error: type = KeyFileRefused) -> str:
    path = written(tmp_path, document)
    with pytest.raises(error) as refused:
        read_credential(path)
    return str(refused.value).replace(str(path), "PATH")


def test_64_KiB_is_read_and_more_refused(tmp_path: Path) -> None:
    data = json.dumps(credential()).encode()
    exact = b" " * (64 * 1024 - len(data)) + data  # cut short, it would not be JSON
    assert read_credential(written(tmp_path, exact)).keys.host == "web-1"
    assert refusal(tmp_path, b" " + exact) == (
        "the key file PATH is too large to be a writer credential"
    )
    with pytest.raises(KeyFileRefused) as refused:
        read_credential(tmp_path / "none")
    assert str(refused.value) == (
        f"cannot read the key file {tmp_path / 'none'}: No such file or directory"
    )


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"host": "../web"}, "writer credential PATH names an invalid host"),
        ({"host": ""}, "writer credential is damaged (host missing or not text)"),
        ({"writer_id": None}, "writer credential is damaged (writer_id missing or not text)"),
        ({"writer_id": "ABCDEF0123456789"}, "'ABCDEF0123456789' is not a key id"),
        ({"generation": 0}, "writer credential is damaged (generation is not a positive integer)"),
        ({"signing_key": "AAAA"}, "writer credential is damaged (signing_key is 3 bytes, not 32)"),
        (
            {"reader_public": "AAAA"},
            "writer credential is damaged (reader_public is 3 bytes, not 32)",
        ),
        (
            {"content_id_key": "AAAA"},
            "writer credential is damaged (content_id_key is 3 bytes, not 32)",
        ),
        ({"repository_id": 5}, "writer credential is damaged (repository_id missing or not text)"),
    ],
    ids=[
        "invalid-host",
        "no-host",
        "no-writer-id",
        "writer-id-not-an-id",
        "generation-0",
        "short-signing-key",
        "short-reader-key",
        "short-id-key",
        "repository-not-text",
    ],
)
def test_a_damaged_credential_is_refused_word_for_word(
    tmp_path: Path, change: dict, line: str
) -> None:
    assert refusal(tmp_path, {**credential(), **change}) == line


def test_what_is_not_a_writer_credential(tmp_path: Path) -> None:
    assert refusal(tmp_path, b"[]") == "the key file PATH is not a writer credential (not JSON)"
    assert refusal(tmp_path, b"[" * 60_000) == (
        "the key file PATH is not a writer credential (not JSON)"
    )
    for change in ({"format": 1}, {"kind": "passphrase"}):
        assert refusal(tmp_path, {**credential(), **change}, UnsupportedFormat) == (
            "the key file PATH is not a writer credential of format 2"
        )


def test_the_bounds_of_a_credentials_fields(tmp_path: Path) -> None:
    document = credential()
    read = read_credential(written(tmp_path, {**document, "repository_id": "r" * 256}))
    assert read.repository_id == "r" * 256
    assert read_credential(written(tmp_path, {**document, "generation": 2**31 - 1})).keys.generation
    assert refusal(tmp_path, {**document, "repository_id": "r" * 257}) == (
        "writer credential is damaged (repository_id missing or not text)"
    )
    assert refusal(tmp_path, {**document, "generation": 2**31}) == (
        "writer credential is damaged (generation is not a positive integer)"
    )
    assert refusal(tmp_path, {**document, "signing_key": "*" + document["signing_key"]}) == (
        "writer credential is damaged (signing_key is not base64)"
    )
