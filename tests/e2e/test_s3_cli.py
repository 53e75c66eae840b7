"""S3 promises through the CLI: on the real radosgw, `init --object-lock-days` puts every
object under retention, and `check --read-data` finds an object damaged in the bucket that a
plain check (existence only) cannot see; on a moto server (whose HeadObject reports both),
`--s3-storage-class` and `--sse` reach every object."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Cli
from tests.support.radosgw import ACCESS_KEY, SECRET_KEY, Radosgw
from tests.support.s3 import client_for, new_bucket


def on_bucket(cli: Cli, endpoint: str, bucket: str, tmp_path: Path) -> Cli:
    environment = {k: v for k, v in cli.environment.items() if not k.startswith("AWS_")}
    config = tmp_path / "drtool.toml"
    config.write_text((EXAMPLES / "drtool.toml").read_text())
    environment.update(
        DRTOOL_REPO=f"s3://{bucket}/drtool",
        DRTOOL_CONFIG=str(config),
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return Cli(environment)


def objects(client, bucket: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=bucket, Prefix="drtool/objects/")
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.mark.real_parts("radosgw")
def test_init_object_lock_days_puts_every_object_under_retention(
    cli: Cli, radosgw: Radosgw, tmp_path: Path
) -> None:
    client = client_for(radosgw.endpoint)
    bucket = new_bucket(client, locked=True)
    s3 = on_bucket(cli, radosgw.endpoint, bucket, tmp_path)
    s3("init", "--object-lock-days", "3")
    snapshot = s3("backup").stdout.strip()
    stored = objects(client, bucket)
    assert stored
    soonest = datetime.now(UTC) + timedelta(days=3)
    for key in [*stored, f"drtool/snapshots/web-1/{snapshot}"]:
        retention = client.get_object_retention(Bucket=bucket, Key=key)["Retention"]
        assert retention["Mode"] in ("GOVERNANCE", "COMPLIANCE")
        assert retention["RetainUntilDate"] >= soonest - timedelta(minutes=5), key
    unlocked = on_bucket(cli, radosgw.endpoint, new_bucket(client), tmp_path)
    unlocked("init", "--object-lock-days", "3", expect=17)


@pytest.mark.real_parts("radosgw")
def test_check_read_data_finds_an_object_damaged_in_the_bucket(
    cli: Cli, radosgw: Radosgw, tmp_path: Path
) -> None:
    client = client_for(radosgw.endpoint)
    bucket = new_bucket(client)
    s3 = on_bucket(cli, radosgw.endpoint, bucket, tmp_path)
    s3("init")
    s3("backup")
    key = objects(client, bucket)[0]
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[-5] ^= 0x01
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    assert "no problems found" in s3("check").stdout, "a plain check sees existence only"
    found = s3("check", "--read-data", expect=14)
    assert f"object {key.rsplit('/', 1)[1][:16]}" in found.stdout
    assert "failed authentication" in found.stdout


@pytest.fixture
def moto_server() -> Iterator[str]:
    """moto as a server on a free port (the CLI is another process): its endpoint."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()


def test_storage_class_and_server_side_encryption_reach_every_object(
    cli: Cli, moto_server: str, tmp_path: Path
) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    bucket = new_bucket(client)
    s3 = on_bucket(cli, moto_server, bucket, tmp_path)
    s3.environment.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    s3("init")
    s3("--s3-storage-class", "STANDARD_IA", "--sse", "AES256", "backup")
    stored = objects(client, bucket)
    assert stored
    for key in stored:
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["StorageClass"] == "STANDARD_IA", key
        assert head["ServerSideEncryption"] == "AES256", key
    s3("restore", "--target", str(tmp_path / "restored"))
    assert (tmp_path / "restored/etc/redis/redis.conf").exists()
