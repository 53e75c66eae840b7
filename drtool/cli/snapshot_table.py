"""The `snapshots` listing: grouping by host, the newest N of each, and the table with a header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from drtool.cli.app import size_text

if TYPE_CHECKING:
    from drtool.snapshot import SnapshotRef

_HEADER = ("ID", "Host", "Time (UTC)", "Size", "Stored", "Kinds", "Tags")


def snapshot_groups(
    refs: Sequence[SnapshotRef], latest: int | None
) -> dict[str, list[SnapshotRef]]:
    """Given refs oldest first, return each host's (sorted by host), keeping its ``latest``
    newest when given, still oldest first."""
    groups: dict[str, list[SnapshotRef]] = {}
    for ref in refs:
        groups.setdefault(ref.host, []).append(ref)
    return {
        host: (host_refs[-latest:] if latest else host_refs)
        for host, host_refs in sorted(groups.items())
    }


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
