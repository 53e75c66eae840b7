"""The `snapshots` listing: the table with a header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from drtool.cli.app import size_text

_HEADER = ("ID", "Host", "Time (UTC)", "Size", "Stored", "Kinds", "Tags")


def print_snapshot_table(summaries: Sequence[dict[str, Any]]) -> None:
    """Print the summaries as a table under a header, restic's way, with a count below."""
    rows = [
        (
            item["id"],
            item["host"],
            item["time"][:19].replace("T", " "),
            size_text(item["size"]),
            size_text(item["stored_size"]),
            ",".join(item["kinds"]) or "-",
            ",".join(item["tags"]),
        )
        for item in summaries
    ]
    widths = [max(len(row[column]) for row in (_HEADER, *rows)) for column in range(len(_HEADER))]
    right_aligned = {3, 4}

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if column in right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    header = line(_HEADER)
    click.echo(header)
    click.echo("-" * len(header))
    for row in rows:
        click.echo(line(row))
    click.echo("-" * len(header))
    click.echo(f"{len(rows)} snapshot(s)")
