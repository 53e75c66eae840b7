"""S3 fixtures: moto in-process, and the real radosgw started once per session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from drtool.store.s3 import S3Options
from tests.support.radosgw import ACCESS_KEY, SECRET_KEY, Radosgw
from tests.support.real_parts import require

# Small parts and a short retry budget keep the tests quick; the logic is the same.
TEST_OPTIONS = S3Options(
    part_size=5 * 1024 * 1024,
    max_attempts=6,
    max_retry_seconds=30,
    backoff_seconds=0.01,
    backoff_max_seconds=0.2,
    connect_timeout=2,
    read_timeout=2,
)


def client_for(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def new_bucket(client: object, locked: bool = False) -> str:
    name = f"drtool-{secrets.token_hex(6)}"
    if locked:
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    else:
        client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def moto_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


@pytest.fixture(scope="session")
def radosgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radosgw]:
    require("radosgw")
    server = Radosgw(Path(tmp_path_factory.mktemp("ceph")))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def radosgw_client(radosgw: Radosgw) -> object:
    return client_for(radosgw.endpoint)
