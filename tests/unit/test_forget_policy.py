from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drtool.errors import UsageError
from drtool.retention import Duration, KeepPolicy, decide, snapshots_to_keep
from drtool.snapshot import SnapshotRef

NOW = datetime(2025, 2, 2, tzinfo=UTC)


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
    return sorted(ref.id.split("-")[0] for ref in snapshots_to_keep(snapshots, policy, NOW))


def reasons(policy: KeepPolicy, snapshots: list[SnapshotRef]) -> dict[str, list[str]]:
    return {
        decision.ref.id.split("-", 1)[0]: decision.reasons or decision.why_not
        for decision in decide(snapshots, policy, NOW)
    }


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


def test_each_kept_snapshot_names_the_rules_that_keep_it_and_each_removed_one_why() -> None:
    said = reasons(KeepPolicy(last=1, daily=2, weekly=2), NIGHTLY)
    assert said["20250201T020000Z"] == ["newest", "last", "daily", "weekly"]
    assert said["20250108T020000Z"] == ["daily", "weekly"]
    assert said["20250107T020000Z"] == [
        "last: 1 newer kept",
        "daily: 2 days already kept",
        "weekly: its week 2025-W02 has a newer one",
    ]


def test_the_oldest_backup_is_kept_while_a_rule_has_slots_left_as_restic_does() -> None:
    assert kept(KeepPolicy(monthly=6)) == [
        "20250101T020000Z",
        "20250108T020000Z",
        "20250201T020000Z",
    ]


def test_pre_restore_snapshots_take_no_slot_and_have_their_own_rule() -> None:
    """The day's full backup is kept by --keep-daily, though a pre-restore snapshot is newer."""
    day = [
        SnapshotRef("20250125T020000.000001Z-aaaa0000", "web-1"),
        SnapshotRef("20250201T020000.000001Z-bbbb0000", "web-1"),
        SnapshotRef("20250201T090000.000001Z-pre-cccc0000", "web-1"),
        SnapshotRef("20250120T090000.000001Z-pre-dddd0000", "web-1"),
    ]
    said = reasons(KeepPolicy(daily=1), day)
    assert said["20250201T090000.000001Z"] == ["newest", "pre-restore"]
    assert said["20250201T020000.000001Z"] == ["daily"]
    assert said["20250125T020000.000001Z"] == ["daily: 1 days already kept"]
    assert said["20250120T090000.000001Z"] == ["pre-restore older than 7d (--keep-pre-restore)"]
    longer = reasons(KeepPolicy(daily=1, pre_restore=Duration(days=14)), day)
    assert longer["20250120T090000.000001Z"] == ["pre-restore"]


def test_keep_within_counts_from_the_newest_backup() -> None:
    policy = KeepPolicy(within=Duration.parse("7d", "--keep-within"))
    assert kept(policy) == ["20250201T020000Z"]
    assert len(kept(KeepPolicy(within=Duration.parse("1m", "--keep-within")))) == len(NIGHTLY)
    assert kept(KeepPolicy(within=Duration.parse("30d", "--keep-within")))[0] == "20250102T020000Z"


def test_a_future_dated_snapshot_is_kept_but_fills_no_slot() -> None:
    future = SnapshotRef("20300101T000000.000000Z-ffff0000", "web-1")
    said = reasons(KeepPolicy(last=1), [*NIGHTLY, future])
    assert said["20300101T000000.000000Z"] == ["newest", "future-dated (not counted)"]
    assert said["20250201T020000Z"] == ["last"]


@pytest.mark.parametrize("within", ["1d", "7d", "30d"])
def test_a_future_dated_snapshot_pushes_nothing_out_of_keep_within(within: str) -> None:
    """bupstash #256: a snapshot dated years ahead must not become the point --keep-within
    counts from, which would put every real snapshot outside the window."""
    policy = KeepPolicy(within=Duration.parse(within, "--keep-within"))
    future = SnapshotRef("20300101T000000.000000Z-ffff0000", "web-1")
    assert kept(policy, [*NIGHTLY, future]) == sorted([*kept(policy), "20300101T000000.000000Z"])
    assert "20250201T020000Z" in kept(policy, [*NIGHTLY, future])
    said = reasons(policy, [*NIGHTLY, future])
    assert said["20300101T000000.000000Z"] == ["newest", "future-dated (not counted)"]


@pytest.mark.parametrize("text", ["", "7", "7x", "d7", "-1d", "1d2y"])
def test_a_malformed_duration_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="invalid --keep-within"):
        Duration.parse(text, "--keep-within")


def test_durations_go_back_by_the_calendar() -> None:
    moment = datetime(2025, 3, 31, 12, tzinfo=UTC)
    assert Duration.parse("1m", "x").before(moment) == datetime(2025, 2, 28, 12, tzinfo=UTC)
    assert Duration.parse("1y2d3h", "x").before(moment) == datetime(2024, 3, 29, 9, tzinfo=UTC)


@pytest.mark.parametrize("field", ["last", "daily", "weekly", "monthly"])
def test_each_count_alone_is_a_policy_and_negative_is_refused(field: str) -> None:
    KeepPolicy(**{field: 1}).check()
    with pytest.raises(UsageError, match=r"^--keep-\* counts must not be negative$"):
        KeepPolicy(**{"last": 1, field: -1}).check()
    with pytest.raises(UsageError, match=r"^give at least one of --keep-last, --keep-daily"):
        KeepPolicy().check()
