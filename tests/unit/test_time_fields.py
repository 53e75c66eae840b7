"""Times read field by field (drtool/timeutil.py, snapshot ids) agree with strptime, the
independent oracle, on what they accept, what they refuse and the time they give."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from drtool.snapshot import is_snapshot_id, snapshot_time
from drtool.timeutil import parse_iso

EDGES = ("00000101", "20240229", "20260229", "20261301", "20260100", "20260431", "99991231")
CLOCKS = ("000000", "235959", "240000", "236000", "235960", "000061")


def _strptime(text: str, layout: str) -> datetime | None:
    try:
        return datetime.strptime(text, layout).replace(tzinfo=UTC)
    except ValueError:
        return None


def _samples() -> list[tuple[str, str, str]]:
    chance = random.Random(15)
    dates = [*EDGES, *("".join(chance.choices("0123456789", k=8)) for _ in range(300))]
    clocks = [*CLOCKS, *("".join(chance.choices("0123456789", k=6)) for _ in range(30))]
    return [(date, clock, f"{chance.randrange(10**6):06d}") for date in dates for clock in clocks]


def _parsed_iso(text: str) -> datetime | None:
    try:
        return parse_iso(text)
    except ValueError:
        return None


@pytest.mark.parametrize("fraction", [True, False])
def test_snapshot_ids_read_as_strptime_reads_them(fraction: bool) -> None:
    for date, clock, micros in _samples():
        stamp = f"{date}T{clock}.{micros}Z" if fraction else f"{date}T{clock}Z"
        layout = "%Y%m%dT%H%M%S.%fZ" if fraction else "%Y%m%dT%H%M%SZ"
        expected = _strptime(stamp, layout)
        assert snapshot_time(f"{stamp}-0123abcd") == expected, stamp
        assert is_snapshot_id(f"{stamp}-0123abcd") == (expected is not None), stamp


def test_iso_times_read_as_strptime_reads_them() -> None:
    for date, clock, micros in _samples():
        text = f"{date[:4]}-{date[4:6]}-{date[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:]}.{micros}Z"
        assert _parsed_iso(text) == _strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ"), text


@pytest.mark.parametrize(
    "text", ["2026-1-01T00:00:00.000000Z", "2026-01-01T00:00:00.5Z", "2026-01-01 00:00:00.000000Z"]
)
def test_other_iso_forms_still_go_to_strptime(text: str) -> None:
    assert _parsed_iso(text) == _strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
