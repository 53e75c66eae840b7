"""fleet_status: which hosts need attention, from their heads alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drtool.errors import FleetNeedsAttention
from drtool.heads import CHECK_HOST, HostHead, RefusedHead
from drtool.status import fleet_status

NOW = datetime(2025, 1, 7, 12, 0, tzinfo=UTC)


def snapshot(hours_old: float) -> dict:
    moment = NOW - timedelta(hours=hours_old)
    return {"id": "x", "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "tags": [], "size": 1}


def test_fresh_stale_never_failed_and_drill() -> None:
    heads = {
        "fresh": HostHead("fresh", snapshot=snapshot(2), drill={"passed": True, "time": "t"}),
        "stale": HostHead("stale", snapshot=snapshot(40)),
        "never": HostHead(
            "never", backup_failure={"time": "2025-01-07T02:00:00.0Z", "exit_code": 20}
        ),
        "drill": HostHead("drill", snapshot=snapshot(1), drill={"passed": False, "time": "t"}),
        CHECK_HOST: HostHead(CHECK_HOST, check={"time": "t", "passed": True, "read_data": False}),
    }
    fleet = fleet_status(heads, NOW, timedelta(hours=36))
    problems = {item.host: item.problems for item in fleet.hosts}
    assert problems["fresh"] == []
    assert problems["stale"] == ["newest snapshot 1d16h old"]
    assert problems["never"] == [
        "never backed up",
        "backup failed at 2025-01-07T02:00:00Z (exit 20)",
    ]
    assert problems["drill"] == ["last drill failed"]
    assert CHECK_HOST not in problems and fleet.check["passed"] is True
    assert [item.host for item in fleet.hosts] == sorted(problems)
    described = fleet.describe()
    assert "4 host(s), 3 need(s) attention: drill, never, stale" in described


def test_an_empty_repository_needs_no_attention() -> None:
    fleet = fleet_status({}, NOW, timedelta(hours=36))
    fleet.raise_for_problems()
    assert "last check: never" in fleet.describe()


def test_a_refused_head_is_a_problem_of_its_host_never_a_healthy_one() -> None:
    heads = {
        "web-1": RefusedHead("web-1", "the status record of host web-1 is not a signed head"),
        "web-2": HostHead("web-2", snapshot=snapshot(1)),
        CHECK_HOST: RefusedHead(CHECK_HOST, "forged"),
    }
    fleet = fleet_status(heads, NOW, timedelta(hours=36))
    problems = {item.host: item.problems for item in fleet.hosts}
    assert problems == {
        "web-1": ["the status record of host web-1 is not a signed head"],
        "web-2": [],
    }
    assert fleet.check is None and "last check: unknown (forged)" in fleet.describe()
    with pytest.raises(FleetNeedsAttention, match=r"^2 host\(s\) need attention: _repository"):
        fleet.raise_for_problems()


def test_a_failed_check_needs_attention_though_every_host_is_fresh() -> None:
    failed = {"time": "2025-01-07T03:00:00.000000Z", "passed": False, "read_data": True}
    heads = {
        "web-1": HostHead("web-1", snapshot=snapshot(1)),
        CHECK_HOST: HostHead(CHECK_HOST, check=failed),
    }
    fleet = fleet_status(heads, NOW, timedelta(hours=36))
    assert "last check: 2025-01-07T03:00:00Z FAILED (read data)" in fleet.describe()
    with pytest.raises(FleetNeedsAttention) as raised:
        fleet.raise_for_problems()
    assert str(raised.value) == (
        "1 host(s) need attention: _repository (last check failed at 2025-01-07T03:00:00Z)"
    )
