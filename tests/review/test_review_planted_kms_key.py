"""Review of issue 14: a KMS key file planted by anyone who can write the repository's
storage, naming a KMS key of the attacker's that the reader's AWS credentials may call: it
unlocks a keyring of the attacker's own (its anchor and wrapped key are its maker's word), and
what the reader then backs up is wrapped to the attacker's generation."""

from __future__ import annotations

from pathlib import Path

import pytest

from drtool.keyring.generation import Generation
from drtool.keyring.keyfile import new_key_file
from drtool.keyring.kms import kms_kek
from drtool.repository import read_config
from drtool.store.local import LocalStore
from tests.conftest import Cli
from tests.e2e.test_key_kms_s3 import aws, client, without_passphrase
from tests.e2e.test_s3_cli import moto_server  # noqa: F401 - the fixture

PLANTED = "0000000000000000"  # listed first


def _plant(cli: Cli, operator: Cli, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker's KMS key (another account's, in real life) and its own generation."""
    store = LocalStore(Path(cli.environment["DRTOOL_REPO"]))
    repository_id = read_config(store).repository_id  # config is clear
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, operator.environment[name])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    arn = client("kms", endpoint).create_key()["KeyMetadata"]["Arn"]  # type: ignore[attr-defined]
    kek, fields = kms_kek(arn, repository_id, PLANTED)
    generations = {1: Generation.new(1)}
    planted = new_key_file(repository_id, PLANTED, "kms", "init", kek, generations, fields)
    store.put(f"keys/{PLANTED}", [planted])


def test_a_planted_kms_key_file_does_not_hijack_a_passphrase_reader(
    cli: Cli,
    moto_server: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operator = aws(cli, moto_server)
    operator("init")
    first = operator("backup").stdout.strip()
    _plant(cli, operator, moto_server, monkeypatch)
    # before the fix: the KMS key file was tried first and opened the attacker's keyring; this
    # backup was wrapped to it (the attacker read its manifest) and `show` of older ones failed
    second = operator("backup").stdout.strip()
    for snapshot in (first, second):
        assert snapshot in operator("show", snapshot).stdout, "readable by the operator's key"


def test_a_planted_kms_key_file_does_not_hijack_a_kms_reader(
    cli: Cli,
    moto_server: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before the fix a reader with no passphrase tried every KMS key file, with no trust
    anchor: the planted one (listed first) opened the attacker's keyring, and what that reader
    backed up was wrapped to it. The anchor is now the KMS key the operator names
    (DRTOOL_KMS_KEY_ID): a key file naming another is never tried."""
    arn = client("kms", moto_server).create_key()["KeyMetadata"]["Arn"]  # type: ignore[attr-defined]
    unnamed = without_passphrase(aws(cli, moto_server))
    operator = Cli({**unnamed.environment, "DRTOOL_KMS_KEY_ID": arn})
    operator("init")
    first = operator("backup").stdout.strip()
    _plant(cli, operator, moto_server, monkeypatch)
    second = operator("backup").stdout.strip()
    for snapshot in (first, second):  # wrapped to the operator's keyring, not the attacker's
        assert snapshot in operator("show", snapshot).stdout
    # a KMS-only reader that names no KMS key trusts no KMS key file: one line, naming them
    refused = unnamed("backup", expect=12)
    assert PLANTED in refused.stderr and "DRTOOL_KMS_KEY_ID" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert len(list((Path(cli.environment["DRTOOL_REPO"]) / "snapshots/web-1").iterdir())) == 2
