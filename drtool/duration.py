"""Durations as operators write them on a command line: ``90s``, ``5m``, ``36h``, ``7d``,
``1h30m`` (restic's and systemd's habit); a bare number is seconds."""

from __future__ import annotations

import re
from datetime import timedelta

import click

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([dhms])")


def parse_duration(text: str) -> timedelta:
    """Given ``1h30m``-style text, return its timedelta; raise ValueError if malformed."""
    stripped = text.strip()
    if stripped.isdigit():
        return timedelta(seconds=int(stripped))
    parts = _PART.findall(stripped)
    if not stripped or "".join(number + unit for number, unit in parts) != stripped:
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 5m, 36h, 7d, 1h30m)")
    return timedelta(seconds=sum(int(number) * _UNITS[unit] for number, unit in parts))


def duration_text(value: timedelta) -> str:
    """The short form of a duration, largest units first: ``1d2h``, ``5m``, ``0s``."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    text = ""
    for unit, size in _UNITS.items():
        if seconds >= size:
            text += f"{seconds // size}{unit}"
            seconds %= size
    return text


class Duration(click.ParamType):
    name = "DURATION"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)
