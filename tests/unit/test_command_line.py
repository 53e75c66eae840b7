"""Global options anywhere on the line, and durations as operators write them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drtool.cli.app import cli
from drtool.cli.argv import hoist_global_options
from drtool.duration import duration_text, parse_duration


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        (["snapshots", "--host", "web-1"], ["--host", "web-1", "snapshots"]),
        (["backup", "-v", "--tag", "x"], ["-v", "backup", "--tag", "x"]),
        (
            ["--repo", "r", "forget", "--keep-last", "1", "--retry-lock=5m"],
            ["--repo", "r", "--retry-lock=5m", "forget", "--keep-last", "1"],
        ),
        # a value of the command's own option is never taken for an option
        (["backup", "--tag", "--host"], ["backup", "--tag", "--host"]),
        # after -- nothing moves
        (["diff", "latest", "--", "--host", "x"], ["diff", "latest", "--", "--host", "x"]),
        (["--host", "web-1", "snapshots"], ["--host", "web-1", "snapshots"]),
        (["nonsense", "--host", "x"], ["nonsense", "--host", "x"]),
    ],
)
def test_global_options_move_before_the_command(typed: list[str], parsed: list[str]) -> None:
    assert hoist_global_options(cli, typed) == parsed


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("5m", 300), ("36h", 36 * 3600), ("7d", 7 * 86400), ("1h30m", 5400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "5x", "1h 30m", "-5m", "5m3"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_duration_text() -> None:
    assert duration_text(timedelta(days=1, hours=2, seconds=5)) == "1d2h5s"
    assert duration_text(timedelta(0)) == "0s"
