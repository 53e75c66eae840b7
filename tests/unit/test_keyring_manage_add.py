"""`drtool key add / add --kms / passwd / paper` (drtool/keyring/manage.py) on a local format-2
repository, without the CLI: each key file read back from disk and opened by hand
(tests/support/keyring_oracle.py: Argon2id of the passphrase with the fields written, or KMS's
data key; the wrapped key and generation 1 unsealed), generation 1 compared with the one the
repository's first key file opens by hand; KMS is a boto3 client given botocore's Stubber."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.stub import ANY, Stubber
from cryptography.exceptions import InvalidTag

from drtool.errors import KeyUnavailable
from drtool.keyring.manage import (
    add_kms_key,
    add_passphrase_key,
    change_passphrase,
    paper_key,
    reader_keys,
)
from drtool.keys import KdfParameters
from drtool.repository import Repository
from tests.conftest import FAST_KDF, PASSPHRASE
from tests.support import keyring_oracle as oracle
from tests.support.kms_stub import ARN, enabled, stubbed_kms

OTHER_KDF = KdfParameters(iterations=2, lanes=1, memory_kib=8 * 1024)
KEK = bytes(range(32))


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    with stubbed_kms(monkeypatch) as stubber:
        yield stubber


def on_disk(repository: Repository, key_id: str) -> dict:
    return json.loads((Path(repository.store.location) / "keys" / key_id).read_text())


def key_ids(repository: Repository) -> list[str]:
    return sorted(path.name for path in (Path(repository.store.location) / "keys").iterdir())


def generation_1(repository: Repository, key_id: str, passphrase: bytes) -> bytes:
    """Generation 1's secret in key file ``key_id``, opened by hand with ``passphrase``."""
    document = on_disk(repository, key_id)
    kek = oracle.passphrase_kek(passphrase, document)
    return oracle.unsealed(document, repository.repository_id, key_id, kek, 1)


def first_generation(repository: Repository) -> bytes:
    """Generation 1's secret in the key file the repository was made with."""
    return generation_1(repository, reader_keys(repository).key_id, PASSPHRASE.encode())


def kdf_written(kdf: KdfParameters) -> dict:
    return {
        "name": "argon2id",
        "iterations": kdf.iterations,
        "lanes": kdf.lanes,
        "memory_kib": kdf.memory_kib,
    }


def test_a_passphrase_key_file_opens_generation_1_with_its_kdf_and_label(
    repository: Repository,
) -> None:
    secret = first_generation(repository)
    key_id = add_passphrase_key(repository, b"second one", "laptop", OTHER_KDF)
    assert re.fullmatch(r"[0-9a-f]{16}", key_id) and key_id in key_ids(repository)
    document = on_disk(repository, key_id)
    assert (document["key_id"], document["kind"], document["label"]) == (
        key_id,
        "passphrase",
        "laptop",
    )
    salt = document["kdf"].pop("salt")
    assert document["kdf"] == kdf_written(OTHER_KDF) and len(oracle.b64(salt)) == 16
    assert generation_1(repository, key_id, b"second one") == secret


def test_passwd_rewraps_the_key_file_in_use_keeping_its_id_and_label(
    repository: Repository,
) -> None:
    secret = first_generation(repository)
    own = reader_keys(repository).key_id
    label = on_disk(repository, own)["label"]
    assert change_passphrase(repository, b"new one", None, OTHER_KDF) == own
    assert key_ids(repository) == [own]
    document = on_disk(repository, own)
    assert (document["label"], document["kind"]) == (label, "passphrase")
    assert {k: v for k, v in document["kdf"].items() if k != "salt"} == kdf_written(OTHER_KDF)
    assert generation_1(repository, own, b"new one") == secret
    with pytest.raises(InvalidTag):
        generation_1(repository, own, PASSPHRASE.encode())


def test_passwd_of_another_key_file_named_by_its_id(repository: Repository) -> None:
    secret = first_generation(repository)
    own = reader_keys(repository).key_id
    own_before = on_disk(repository, own)
    other = add_passphrase_key(repository, b"second one", "laptop", FAST_KDF)
    assert change_passphrase(repository, b"third one", other, FAST_KDF) == other
    assert on_disk(repository, other)["label"] == "laptop"
    assert generation_1(repository, other, b"third one") == secret
    assert on_disk(repository, own) == own_before


@pytest.mark.parametrize("key_id", ["x" * 50, "0" * 16, "../config"])
def test_passwd_of_no_such_key(repository: Repository, key_id: str) -> None:
    with pytest.raises(KeyUnavailable) as refused:
        change_passphrase(repository, b"new one", key_id, FAST_KDF)
    assert str(refused.value) == (
        f"no key {key_id[:40]!r} in this repository (see `drtool key list`)"
    )


def test_a_kms_key_file_is_opened_by_kmss_data_key(repository: Repository, kms: Stubber) -> None:
    secret = first_generation(repository)
    enabled(kms)
    kms.add_response(
        "generate_data_key",
        {"CiphertextBlob": b"ciphertext", "Plaintext": KEK, "KeyId": ARN},
        {"KeyId": ARN, "KeySpec": "AES_256", "EncryptionContext": ANY},
    )
    asked: list[dict] = []
    kms.client.meta.events.register(
        "provide-client-params.kms.GenerateDataKey", lambda params, **_: asked.append(params)
    )
    key_id = add_kms_key(repository, ARN, "vault")
    assert asked[0]["EncryptionContext"] == {
        "drtool-repository": repository.repository_id,
        "drtool-key": key_id,
    }
    document = on_disk(repository, key_id)
    assert (document["key_id"], document["kind"], document["label"]) == (key_id, "kms", "vault")
    assert document["kms"] == {"key_id": ARN, "encrypted_kek": "Y2lwaGVydGV4dA=="}
    assert "kdf" not in document
    assert oracle.unsealed(document, repository.repository_id, key_id, KEK, 1) == secret
    with pytest.raises(KeyUnavailable) as refused:
        change_passphrase(repository, b"new one", key_id, FAST_KDF)
    assert str(refused.value) == f"key {key_id} is a kms key, not a passphrase"


def test_a_paper_key_is_a_random_code_that_opens_generation_1(repository: Repository) -> None:
    secret = first_generation(repository)
    key_id, code = paper_key(repository, FAST_KDF)
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){7}", code), code
    assert len(base64.b32decode(code.replace("-", ""))) == 20
    document = on_disk(repository, key_id)
    assert (document["kind"], document["label"]) == ("passphrase", "paper")
    assert {k: v for k, v in document["kdf"].items() if k != "salt"} == kdf_written(FAST_KDF)
    assert generation_1(repository, key_id, code.encode()) == secret
    assert paper_key(repository, FAST_KDF)[1] != code
