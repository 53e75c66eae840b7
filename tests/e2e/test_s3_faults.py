"""drtool against a real S3 server (radosgw) through a proxy that injects S3's failures.

Under a 20% fault rate backups and restores complete; under 100% they fail cleanly: one line,
a non-zero exit, no half snapshot; and they never hang (every run has a hard timeout).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Cli, owned_listing
from tests.support.fault_proxy import FAULTS, FaultPlan, FaultProxy
from tests.support.radosgw import ACCESS_KEY, SECRET_KEY, Radosgw
from tests.support.s3 import client_for, new_bucket

S3_SETTINGS = """
[s3]
max_attempts = {attempts}
max_retry_seconds = 20
backoff_seconds = 0.02
backoff_max_seconds = 0.3
connect_timeout = 1
read_timeout = 1
"""

pytestmark = pytest.mark.slow


@pytest.fixture(params=FAULTS)
def proxied(request: pytest.FixtureRequest, radosgw: Radosgw) -> Iterator[FaultPlan]:
    plan = FaultPlan(request.param, rate=0.0, stall_seconds=3)
    with FaultProxy(radosgw.endpoint, plan) as proxy:
        plan.endpoint = proxy.endpoint  # type: ignore[attr-defined]
        yield plan


@pytest.fixture
def s3_cli(cli: Cli, proxied: FaultPlan, radosgw: Radosgw, tmp_path: Path) -> Cli:
    bucket = new_bucket(client_for(radosgw.endpoint))
    config = tmp_path / "drtool.toml"
    for variable in [name for name in cli.environment if name.startswith("AWS_")]:
        del cli.environment[variable]
    cli.environment.update(
        DRTOOL_REPO=f"s3://{bucket}/drtool",
        DRTOOL_CONFIG=str(config),
        AWS_ENDPOINT_URL=proxied.endpoint,  # type: ignore[attr-defined]
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    give_up_after(cli, attempts=8)
    cli("init")
    return cli


def give_up_after(cli: Cli, attempts: int) -> None:
    """drtool.toml for ``cli``: the example's, with S3 settings that give up after ``attempts``
    (a stalled answer costs a read timeout each)."""
    config = Path(cli.environment["DRTOOL_CONFIG"])
    config.write_text(
        (EXAMPLES / "drtool.toml").read_text() + S3_SETTINGS.format(attempts=attempts)
    )


def test_backup_and_restore_complete_under_a_20_percent_fault_rate(
    s3_cli: Cli, proxied: FaultPlan, tmp_path: Path
) -> None:
    root = Path(s3_cli.environment["DRTOOL_ROOT"])
    proxied.rate = 0.2
    snapshot_id = json.loads(s3_cli("backup", "--json").stdout)["id"]
    s3_cli("restore", snapshot_id, "--target", str(tmp_path / "restored"))
    assert owned_listing(tmp_path / "restored") == owned_listing(root)
    assert proxied.injected > 0, "the proxy did inject faults"
    proxied.rate = 0.0
    assert "no problems found" in s3_cli("check", "--read-data").stdout


def test_everything_fails_cleanly_under_a_100_percent_fault_rate(
    s3_cli: Cli, proxied: FaultPlan, tmp_path: Path
) -> None:
    s3_cli("backup")
    give_up_after(s3_cli, attempts=3)  # a fault every time: the retries are all struck alike
    proxied.rate = 1.0
    assert "S3" in s3_cli("backup", expect=19).stderr
    s3_cli("restore", "--target", str(tmp_path / "restored"), expect=19)
    assert not (tmp_path / "restored").exists()
    proxied.rate = 0.0
    assert len(json.loads(s3_cli("snapshots", "--json").stdout)) == 1, "no half snapshot"
    assert "no problems found" in s3_cli("check").stdout
