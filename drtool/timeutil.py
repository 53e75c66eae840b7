"""UTC time in the forms the repository uses."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_now_iso() -> str:
    return iso(utc_now())


def iso(moment: datetime) -> str:
    """Given an aware datetime, return it in UTC as ``2025-01-07T02:15:00.123456Z``. The year
    is padded by hand: glibc's ``%Y`` writes 999 for 0999, which ``parse_iso`` refuses (a head
    its host signed with such a time would leave a memory drtool then calls damaged)."""
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S.%fZ}"


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
