"""Review of issue 14: a KMS key file planted by anyone who can write the repository's
storage, naming a KMS key of the attacker's that the reader's AWS credentials may call."""

from __future__ import annotations

from pathlib import Path

import pytest

from drtool.keyring.generation import Generation
from drtool.keyring.keyfile import new_key_file
from drtool.keyring.kms import kms_kek
from drtool.keys import new_key_id
from drtool.repository import read_config
from drtool.store.local import LocalStore
from tests.conftest import Cli
from tests.e2e.test_key_kms_s3 import aws, client
from tests.e2e.test_s3_cli import moto_server  # noqa: F401 - the fixture


@pytest.mark.xfail(
    strict=True,
    reason="hole: unlock tries KMS key files first, with no passphrase and no trust anchor: a "
    "key file planted in keys/ that names the attacker's KMS key (one the reader's AWS "
    "credentials may Decrypt with) unlocks a keyring of the attacker's own, and the reader's "
    "next backup is wrapped to the attacker's generation (its secrets readable by the attacker)",
)
def test_a_planted_kms_key_file_does_not_hijack_a_passphrase_reader(
    cli: Cli,
    moto_server: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operator = aws(cli, moto_server)
    operator("init")
    operator("backup")
    repo = Path(cli.environment["DRTOOL_REPO"])
    store = LocalStore(repo)
    repository_id = read_config(store).repository_id  # config is clear
    # the attacker: its own KMS key (another account's, in real life), its own generation
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, operator.environment[name])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    arn = client("kms", moto_server).create_key()["KeyMetadata"]["Arn"]  # type: ignore[attr-defined]
    key_id = new_key_id()
    kek, fields = kms_kek(arn, repository_id, key_id)
    generations = {1: Generation.new(1)}
    planted = new_key_file(repository_id, key_id, "kms", "init", kek, generations, fields)
    store.put(f"keys/{key_id}", [planted])
    before = sorted(path.name for path in (repo / "snapshots/web-1").iterdir())
    refused = operator("backup", expect=12)
    assert key_id in refused.stderr
    assert sorted(path.name for path in (repo / "snapshots/web-1").iterdir()) == before
