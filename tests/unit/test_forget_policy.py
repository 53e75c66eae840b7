from __future__ import annotations

import pytest

from drtool.errors import UsageError
from drtool.forget import KeepPolicy, snapshots_to_keep
from drtool.snapshot import SnapshotRef


def refs(*stamps: str) -> list[SnapshotRef]:
    return [SnapshotRef(f"{stamp}-{index:08x}", "web-1") for index, stamp in enumerate(stamps)]


NIGHTLY = refs(
    "20250101T020000Z",
    "20250102T020000Z",
    "20250102T140000Z",
    "20250106T020000Z",
    "20250107T020000Z",
    "20250108T020000Z",
    "20250201T020000Z",
)


def kept(policy: KeepPolicy, snapshots: list[SnapshotRef] = NIGHTLY) -> list[str]:
    return sorted(ref.id[:16] for ref in snapshots_to_keep(snapshots, policy))


def test_keep_last() -> None:
    assert kept(KeepPolicy(last=2)) == ["20250108T020000Z", "20250201T020000Z"]


def test_keep_daily_keeps_the_newest_of_each_day() -> None:
    assert kept(KeepPolicy(daily=5)) == [
        "20250102T140000Z",
        "20250106T020000Z",
        "20250107T020000Z",
        "20250108T020000Z",
        "20250201T020000Z",
    ]


def test_keep_weekly_and_monthly() -> None:
    # ISO weeks: 1-2 Jan are 2025-W01, 6-8 Jan 2025-W02, 1 Feb 2025-W05
    assert kept(KeepPolicy(weekly=3)) == [
        "20250102T140000Z",
        "20250108T020000Z",
        "20250201T020000Z",
    ]
    assert kept(KeepPolicy(monthly=2)) == ["20250108T020000Z", "20250201T020000Z"]


def test_the_newest_is_always_kept() -> None:
    assert kept(KeepPolicy(monthly=0, daily=0, last=0, weekly=0)) == ["20250201T020000Z"]


@pytest.mark.parametrize("policy", [KeepPolicy(), KeepPolicy(last=-1)])
def test_an_empty_or_negative_policy_is_refused(policy: KeepPolicy) -> None:
    with pytest.raises(UsageError):
        policy.check()


@pytest.mark.parametrize("field", ["last", "daily", "weekly", "monthly"])
def test_each_count_alone_is_a_policy_and_negative_is_refused(field: str) -> None:
    KeepPolicy(**{field: 1}).check()
    with pytest.raises(UsageError, match=r"^--keep-\* counts must not be negative$"):
        KeepPolicy(**{"last": 1, field: -1}).check()
    with pytest.raises(UsageError, match=r"^give at least one of --keep-last, --keep-daily"):
        KeepPolicy().check()
