"""S3 promises through the CLI: on the real radosgw, `init --object-lock-days` puts every
object under retention, `check --read-data` finds an object damaged in the bucket that a plain
check (existence only) cannot see, and a download broken mid-body resumes with a Range from the
byte it reached; on a moto server (whose HeadObject reports both), `--s3-storage-class` and
`--sse` reach every object, a reused object's lock is extended only when it ends too early (the
N/4-day margin), and a bucket in another region is one line. Requests are counted by the proxy
in front of the server (tests/support/fault_proxy.py), never by drtool."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import EXAMPLES, Cli, owned_listing
from tests.support.fault_proxy import FaultPlan, FaultProxy
from tests.support.radosgw import ACCESS_KEY, SECRET_KEY, Radosgw
from tests.support.s3 import client_for, new_bucket

pytestmark = pytest.mark.slow  # every test here runs drtool several times on an S3 server


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
    """The data objects of the repository in ``bucket``: its packs (format 2)."""
    listed = client.list_objects_v2(Bucket=bucket, Prefix="drtool/packs/")
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


# A pack's header (magic, version, type, the wrapped data key: 8 + 84 bytes), then its blobs:
# 20 bytes in is inside the first one.
FIRST_BLOB = 8 + 84 + 20


@pytest.mark.real_parts("radosgw")
def test_check_read_data_finds_an_object_damaged_in_the_bucket(
    cli: Cli, radosgw: Radosgw, tmp_path: Path
) -> None:
    client = client_for(radosgw.endpoint)
    bucket = new_bucket(client)
    s3 = on_bucket(cli, radosgw.endpoint, bucket, tmp_path)
    s3("init")
    s3("backup")
    (key,) = objects(client, bucket)
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[FIRST_BLOB] ^= 0x01  # in the first kind's first blob, not a blob list
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    assert "no problems found" in s3("check").stdout, "a plain check reads the blob lists only"
    found = s3("check", "--read-data", expect=14)
    assert f"pack {key.rsplit('/', 1)[1][:16]} does not hold blob" in found.stdout


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


def moto_client(endpoint: str):
    """A boto3 S3 client of the moto server at ``endpoint`` (the test's own: its credentials)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def test_storage_class_and_server_side_encryption_reach_every_object(
    cli: Cli, moto_server: str, tmp_path: Path
) -> None:
    client = moto_client(moto_server)
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


@pytest.mark.real_parts("radosgw")
def test_a_download_broken_mid_body_resumes_from_the_byte_it_reached(
    cli: Cli, radosgw: Radosgw, tmp_path: Path
) -> None:
    """The first download of an object is cut after half its body (the connection closed): the
    restore asks for the rest with a Range from exactly there, and restores byte for byte."""
    client = client_for(radosgw.endpoint)
    bucket = new_bucket(client)
    plan = FaultPlan("cut", rate=0.0, matching=rf"^GET /{bucket}/drtool/packs/", times=1)
    with FaultProxy(radosgw.endpoint, plan) as proxy:
        s3 = on_bucket(cli, proxy.endpoint, bucket, tmp_path)
        s3("init")
        s3("backup")
        plan.rate = 1.0
        s3("restore", "--target", str(tmp_path / "restored"))
    assert plan.injected == 1
    (cut,) = plan.struck
    path = plan.requests[cut].path
    key = unquote(path.split("?")[0].removeprefix(f"/{bucket}/"))
    size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    resumed = [r for r in plan.requests[cut + 1 :] if r.path == path]
    assert resumed[0].range == f"bytes={size // 2}-", "asked for the rest, from the byte reached"
    root = Path(cli.environment["DRTOOL_ROOT"])
    assert owned_listing(tmp_path / "restored") == owned_listing(root)


def test_a_bucket_in_another_region_is_one_line_naming_it(
    cli: Cli, moto_server: str, tmp_path: Path
) -> None:
    """S3's answer for a bucket in another region (301 PermanentRedirect, from the proxy in
    front of moto): exit 19, one line saying what to set, and no retry storm."""
    plan = FaultPlan("moved", rate=1.0)
    with FaultProxy(moto_server, plan) as proxy:
        s3 = on_bucket(cli, proxy.endpoint, "far-away-bucket", tmp_path)
        s3.environment.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        for command in (("init",), ("snapshots",), ("backup",)):
            plan.requests.clear()
            failed = s3(*command, expect=19)
            # (a HEAD's answer has no body: its code is its status, 301)
            assert re.fullmatch(
                r"drtool: error: bucket far-away-bucket is in another region "
                r"\((PermanentRedirect|301)\): set AWS_REGION\n",
                failed.stderr,
            ), (command, failed.stderr)
            assert len(plan.requests) <= 2, f"{command}: {len(plan.requests)} requests"


def retention_requests(plan: FaultPlan) -> list[str]:
    """The keys of the PutObjectRetention requests the server saw (``PUT key?retention``)."""
    return [
        unquote(r.path.split("?")[0])
        for r in plan.requests
        if r.method == "PUT" and "retention" in r.path.partition("?")[2].split("&")
    ]


def retain_until(client, bucket: str, keys: list[str]) -> dict[str, datetime]:
    return {
        key: client.head_object(Bucket=bucket, Key=key)["ObjectLockRetainUntilDate"] for key in keys
    }


def test_a_reused_object_is_extended_only_when_its_lock_ends_too_early(
    cli: Cli, moto_server: str, tmp_path: Path
) -> None:
    """`init --object-lock-days 8`: new objects are locked 8 + 8/4 = 10 days. A backup a day
    later reuses them (locked long enough: no extension request at all); one at +66 h needs 8
    days from then, past their 10 (240 h): each reused object of the first backup gets exactly
    one PutObjectRetention, the second backup's objects (locked to +264 h) none. The clock is
    faketime's; the requests are counted where the server receives them."""
    client = moto_client(moto_server)
    bucket = new_bucket(client, locked=True)
    plan = FaultPlan("none", rate=0.0)
    root = Path(cli.environment["DRTOOL_ROOT"])
    with FaultProxy(moto_server, plan) as proxy:
        s3 = on_bucket(cli, proxy.endpoint, bucket, tmp_path)
        s3.environment.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        later = {h: Cli(s3.environment, wrapper=("faketime", "-f", f"+{h}h")) for h in (24, 66)}
        s3("init", "--object-lock-days", "8")
        s3("backup")
        first = objects(client, bucket)
        locks = retain_until(client, bucket, first)
        assert retention_requests(plan) == [], "new objects are locked as they are written"

        (root / "etc/redis/redis.conf").write_text("bind 127.0.0.1\n# changed\n")
        plan.requests.clear()
        later[24]("backup")
        assert retention_requests(plan) == [], "locked 10 days, needed 9: no extension"
        assert retain_until(client, bucket, first) == locks
        second = sorted(set(objects(client, bucket)) - set(first))
        assert len(second) == 1, "the changed file's pack"

        plan.requests.clear()
        later[66]("backup")
        extended = retention_requests(plan)
    assert len(extended) == len(set(extended)), "one request per object"
    # the first backup's pack, still used by every other kind; none for the second's
    assert set(extended) == {f"/{bucket}/{key}" for key in first}
    for key, until in retain_until(client, bucket, first).items():
        if f"/{bucket}/{key}" in extended:
            assert until - locks[key] >= timedelta(hours=66 - 48), key
