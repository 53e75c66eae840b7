"""Keys through AWS services, on a moto server (the CLI is another process): a repository whose
key KMS wraps opens with no passphrase, a disabled KMS key is one line (exit 12); and the key
commands on an S3 repository: a write-only host backs up into the bucket and a reader restores
it, byte for byte (sha256 of the files)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import boto3
import pytest

from tests.conftest import Cli
from tests.e2e.test_s3_cli import moto_server, on_bucket  # noqa: F401 - the fixture
from tests.support.radosgw import Radosgw
from tests.support.s3 import client_for, new_bucket

WG = "etc/wireguard/wg0.conf"


def aws(cli: Cli, endpoint: str, **changes: str) -> Cli:
    environment = {k: v for k, v in cli.environment.items() if not k.startswith("AWS_")}
    environment.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        **changes,
    )
    return Cli(environment)


def without_passphrase(cli: Cli) -> Cli:
    return Cli({k: v for k, v in cli.environment.items() if k != "DRTOOL_PASSWORD_FILE"})


def client(service: str, endpoint: str) -> object:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_kms_wraps_the_repository_key(cli: Cli, moto_server: str, tmp_path: Path) -> None:  # noqa: F811
    kms = client("kms", moto_server)
    metadata = kms.create_key()["KeyMetadata"]
    operator = without_passphrase(aws(cli, moto_server, DRTOOL_KMS_KEY_ID=metadata["Arn"]))
    operator("init")
    (key_path,) = (Path(cli.environment["DRTOOL_REPO"]) / "keys").iterdir()
    assert json.loads(key_path.read_text())["kind"] == "kms"
    snapshot = operator("backup").stdout.strip()
    root = Path(cli.environment["DRTOOL_ROOT"])
    expected = sha256(root / WG)
    (root / WG).write_text("changed\n")
    operator("restore", snapshot, "--yes")
    assert sha256(root / WG) == expected
    # a passphrase beside the KMS key, for the day KMS is gone
    new = tmp_path / "new-passphrase"
    new.write_text("beside kms\n")
    new.chmod(0o600)
    Cli({**operator.environment, "DRTOOL_NEW_PASSWORD_FILE": str(new)})(
        "key", "add", "--label", "safe"
    )
    kms.disable_key(KeyId=metadata["KeyId"])
    refused = operator("snapshots", expect=12)
    assert "Disabled" in refused.stderr
    with_passphrase = Cli({**operator.environment, "DRTOOL_PASSWORD_FILE": str(new)})
    with_passphrase("restore", snapshot, "--yes")
    # and a KMS key added to a repository that a passphrase opens
    other = kms.create_key()["KeyMetadata"]
    with_passphrase("key", "add", "--kms-key-id", other["Arn"])
    other_reader = Cli({**operator.environment, "DRTOOL_KMS_KEY_ID": other["Arn"]})
    kinds = sorted(row["kind"] for row in json.loads(other_reader("key", "list", "--json").stdout))
    assert kinds == ["kms", "kms", "passphrase"]


def test_a_writer_backs_up_into_a_bucket(cli: Cli, moto_server: str, tmp_path: Path) -> None:  # noqa: F811
    bucket = new_bucket(client("s3", moto_server))
    expected, restored = writer_round_trip(
        aws(cli, moto_server, DRTOOL_REPO=f"s3://{bucket}/drtool"), tmp_path
    )
    assert restored == expected


@pytest.mark.slow
@pytest.mark.real_parts("radosgw")
def test_a_writer_backs_up_into_radosgw(cli: Cli, radosgw: Radosgw, tmp_path: Path) -> None:
    bucket = new_bucket(client_for(radosgw.endpoint))
    expected, restored = writer_round_trip(
        on_bucket(cli, radosgw.endpoint, bucket, tmp_path), tmp_path
    )
    assert restored == expected


def writer_round_trip(operator: Cli, tmp_path: Path) -> tuple[str, str]:
    """init, add-writer, a backup with the credential alone, a reader's restore byte for byte,
    and the credential refused after a rotation; the passphrase commands on the same store.
    Return the digest of the backed-up file and of the file a restore after the rotation wrote."""
    operator("init")
    credential = tmp_path / "web-1.key"
    operator("key", "add-writer", "--host", "web-1", "--output", str(credential))
    writer = Cli({**without_passphrase(operator).environment, "DRTOOL_KEY_FILE": str(credential)})
    snapshot = writer("backup").stdout.strip()
    assert "can only write" in writer("restore", snapshot, "--yes", expect=12).stderr
    root = Path(operator.environment["DRTOOL_ROOT"])
    expected = sha256(root / WG)
    (root / WG).write_text("changed\n")
    operator("restore", snapshot, "--yes")
    assert sha256(root / WG) == expected
    operator("key", "rotate")
    assert "revoked" in writer("backup", expect=12).stderr
    (root / WG).write_text("changed again\n")
    operator("restore", snapshot, "--yes")
    restored_after_rotation = sha256(root / WG)
    # the passphrase commands on the bucket too
    new = tmp_path / "second-passphrase"
    new.write_text("second\n")
    new.chmod(0o600)
    added = Cli({**operator.environment, "DRTOOL_NEW_PASSWORD_FILE": str(new)})(
        "key", "add", "--label", "second"
    ).stdout.strip()
    second = Cli({**operator.environment, "DRTOOL_PASSWORD_FILE": str(new)})
    printed = second("key", "export", "--paper").stdout
    paper = next(line.split()[-1] for line in printed.splitlines() if line.startswith("key id"))
    rows = json.loads(second("key", "list", "--json").stdout)
    assert sorted(row["label"] for row in rows) == ["", "init", "paper", "second"]
    second("key", "remove", paper)
    Cli({**second.environment, "DRTOOL_NEW_PASSWORD_FILE": str(tmp_path / "passphrase")})(
        "key", "passwd", added
    )
    assert "wrong passphrase" in second("snapshots", expect=12).stderr
    return expected, restored_after_rotation
