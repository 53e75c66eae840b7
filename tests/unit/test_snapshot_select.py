from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drtool.errors import SnapshotNotFound, UsageError
from drtool.snapshot import SnapshotRef, new_snapshot_id, select_snapshot, snapshot_time

REFS = [
    SnapshotRef("20250106T020000Z-aaaa0000", "web-1"),
    SnapshotRef("20250107T020000Z-bbbb0000", "web-1"),
    SnapshotRef("20250107T140000Z-cccc0000", "web-1"),
    SnapshotRef("20250107T230000Z-dddd0000", "web-2"),
    SnapshotRef("20250108T020000Z-eeee0000", "web-2"),
]


NOW = datetime(2025, 1, 9, tzinfo=UTC)


def select(selector: str | None = None, date: str | None = None, host: str = "web-1") -> str:
    return select_snapshot(REFS, selector, date, host, NOW).id


def test_latest_is_per_host() -> None:
    assert select("latest") == "20250107T140000Z-cccc0000"
    assert select(None, host="web-2") == "20250108T020000Z-eeee0000"


def test_date_picks_the_newest_of_that_day_for_the_host() -> None:
    assert select(date="20250107") == "20250107T140000Z-cccc0000"
    assert select(date="20250107", host="web-2") == "20250107T230000Z-dddd0000"


def test_id_and_unique_prefix_of_any_host() -> None:
    assert select("20250108T020000Z-eeee0000") == "20250108T020000Z-eeee0000"
    assert select("20250106") == "20250106T020000Z-aaaa0000"


def test_ambiguous_prefix() -> None:
    with pytest.raises(SnapshotNotFound, match="ambiguous"):
        select("20250107")


def test_unknown_id() -> None:
    with pytest.raises(SnapshotNotFound, match="no snapshot 'nope'"):
        select("nope")


def test_no_snapshot_on_date() -> None:
    with pytest.raises(SnapshotNotFound, match="on 20250109"):
        select(date="20250109")


@pytest.mark.parametrize("date", ["2025-01-07", "20251307", "2025010", "yesterday"])
def test_malformed_date(date: str) -> None:
    with pytest.raises(UsageError, match="invalid date"):
        select(date=date)


def test_no_snapshot_at_all() -> None:
    with pytest.raises(SnapshotNotFound):
        select_snapshot([], "latest", None, "web-1")


def test_ids_carry_microseconds_and_old_ids_stay_readable() -> None:
    moment = datetime(2025, 1, 7, 2, 15, 0, 123456, tzinfo=UTC)
    assert new_snapshot_id(moment).startswith("20250107T021500.123456Z-")
    assert snapshot_time(new_snapshot_id(moment, pre_restore=True)) == moment
    assert snapshot_time("20250107T021500Z-3fa2c1d0") == moment.replace(microsecond=0)
    assert snapshot_time("not-an-id") is None


def test_latest_orders_by_recorded_time_never_by_the_random_part() -> None:
    """Two backups in one second: the random parts sort the other way round."""
    first = SnapshotRef("20250107T140000.100000Z-ffff0000", "web-1")
    second = SnapshotRef("20250107T140000.200000Z-0000aaaa", "web-1")
    old_format = SnapshotRef("20250107T140000Z-ffffffff", "web-1")
    for refs in ([first, second, old_format], [second, old_format, first]):
        assert select_snapshot(refs, "latest", None, "web-1", NOW) == second
        assert select_snapshot(refs, None, "20250107", "web-1", NOW) == second


def test_latest_skips_a_future_dated_snapshot_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    future = SnapshotRef((NOW + timedelta(hours=2)).strftime("%Y%m%dT%H%M%S.%fZ-ffff0000"), "web-1")
    soon = SnapshotRef(
        (NOW + timedelta(minutes=30)).strftime("%Y%m%dT%H%M%S.%fZ-eeee0000"), "web-1"
    )
    assert select_snapshot([*REFS, future], "latest", None, "web-1", NOW).id == REFS[2].id
    assert future.id in caplog.text and "future" in caplog.text
    assert select_snapshot([*REFS, future, soon], "latest", None, "web-1", NOW) == soon
    with pytest.raises(SnapshotNotFound):
        select_snapshot([future], None, "20250109", "web-1", NOW)
