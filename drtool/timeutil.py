"""UTC time in the forms the repository uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# What iso() writes. Read field by field: strptime's first call loads _strptime and compiles its
# regexes (a few ms of every command); for these fixed-width digits it reads the same fields
# and refuses the same dates. Any other text still goes to strptime.
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{6})Z")


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


def utc_fields(fields: tuple[str, ...]) -> datetime:
    """Given year, month, day, hour, minute, second and microsecond as digits, the UTC time;
    ValueError for a date that does not exist, as strptime raises."""
    return datetime(*(int(field) for field in fields), tzinfo=UTC)


def parse_iso(text: str) -> datetime:
    canonical = _ISO.fullmatch(text)
    if canonical:
        return utc_fields(canonical.groups())
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
