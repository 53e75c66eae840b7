from __future__ import annotations

import pytest

from drtool.errors import SnapshotNotFound, UsageError
from drtool.snapshot import SnapshotRef, select_snapshot

REFS = [
    SnapshotRef("20250106T020000Z-aaaa0000", "web-1"),
    SnapshotRef("20250107T020000Z-bbbb0000", "web-1"),
    SnapshotRef("20250107T140000Z-cccc0000", "web-1"),
    SnapshotRef("20250107T230000Z-dddd0000", "web-2"),
    SnapshotRef("20250108T020000Z-eeee0000", "web-2"),
]


def select(selector: str | None = None, date: str | None = None, host: str = "web-1") -> str:
    return select_snapshot(REFS, selector, date, host).id


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
