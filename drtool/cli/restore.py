"""restore: a snapshot back onto the host, or under --target for a look."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from drtool.cli.app import (
    Context,
    all_collectors,
    cli,
    emit,
    json_option,
    load_snapshot,
    pass_context,
)
from drtool.config import ALL_KINDS
from drtool.errors import ConfirmationRequired, UsageError
from drtool.host import Host
from drtool.restore import restore_snapshot


@cli.command()
@click.argument("snapshot", required=False)
@click.option("--date", metavar="YYYYMMDD", help="Newest snapshot of this UTC day for this host.")
@click.option("--only", metavar="KINDS", help=f"Comma-separated kinds ({', '.join(ALL_KINDS)}).")
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write under this directory instead of the host root (no confirmation needed).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required off a terminal).")
@json_option
@pass_context
def restore(
    context: Context,
    snapshot: str | None,
    date: str | None,
    only: str | None,
    target: Path | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Restore a snapshot (an id, a unique prefix, latest; default latest) onto the host."""
    kinds = _parse_kinds(only)
    repository = context.repository()
    manifest = load_snapshot(context, repository, snapshot, date)
    # --target is a look at the files, nothing more: no service is checked or restarted.
    destination = (
        Host(target, context.host_name, context.runner, services=False) if target else context.host
    )
    if target is None and not yes:
        _confirm(f"restore snapshot {manifest.id} of {manifest.host} onto {context.root}?")
    result = restore_snapshot(repository, manifest, destination, all_collectors(context), kinds)
    document = {**dataclasses.asdict(result), "root": str(destination.root)}
    emit(
        as_json,
        document,
        lambda: click.echo(
            f"restored {', '.join(result.restored) or 'nothing'} from {result.snapshot_id} "
            f"into {destination.root}"
            + (f" (absent in snapshot: {', '.join(result.absent)})" if result.absent else "")
            + (f" (skipped: {', '.join(result.skipped)})" if result.skipped else "")
        ),
    )


def _parse_kinds(only: str | None) -> set[str] | None:
    if not only:
        return None
    kinds = {kind.strip() for kind in only.split(",") if kind.strip()}
    unknown = sorted(kinds - set(ALL_KINDS))
    if unknown:
        raise UsageError(f"unknown kind {unknown[0]!r} in --only (known: {', '.join(ALL_KINDS)})")
    return kinds


def _confirm(question: str) -> None:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise ConfirmationRequired("restoring onto the host needs --yes when not on a terminal")
    if not click.confirm(question, err=True):
        raise ConfirmationRequired("restore cancelled; nothing was changed")
