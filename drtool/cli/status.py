"""status: the fleet view, one line per host in the repository."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import click

from drtool.cli.app import Context, emit, json_option, pass_context
from drtool.duration import Duration


@click.command()
@click.option(
    "--max-age",
    type=Duration(),
    default="36h",
    show_default=True,
    help="A host whose newest snapshot is older than this is stale.",
)
@json_option
@pass_context
def status(context: Context, max_age: timedelta, as_json: bool) -> None:
    """Every host's newest snapshot and its age, last drill, the last check; exit 29 when a
    host is stale, its last backup or drill failed, or its status record is refused (damaged,
    not signed by a key of that host, missing, or older than one this machine read)."""
    from drtool.fleet_heads import read_heads
    from drtool.seen import SeenHeads
    from drtool.status import fleet_status
    from drtool.timeutil import utc_now

    repository = context.repository()
    memory = SeenHeads.load(context.root, repository.repository_id)
    now = utc_now()
    fleet = fleet_status(read_heads(repository, now, memory), now, max_age)
    emit(as_json, dataclasses.asdict(fleet), lambda: click.echo(fleet.describe()))
    fleet.raise_for_problems()
