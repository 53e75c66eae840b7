"""diff: two snapshots, or a snapshot and the live host, kind by kind, secrets redacted."""

from __future__ import annotations

from pathlib import Path

import click

from drtool.cli.app import (
    Context,
    all_collectors,
    emit,
    json_option,
    load_snapshot,
    pass_context,
)
from drtool.cli.restore import parse_kinds
from drtool.errors import ExitCode


@click.command("diff")
@click.argument("old")
@click.argument("new", required=False)
@click.option("--only", metavar="KINDS", help="Comma-separated kinds.")
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write drtool_drift{kind} (1: differs) as Prometheus textfile metrics to this file.",
)
@json_option
@pass_context
def diff_command(
    context: Context,
    old: str,
    new: str | None,
    only: str | None,
    metrics: Path | None,
    as_json: bool,
) -> ExitCode:
    """What changes from snapshot OLD to snapshot NEW, or to the live host without NEW.

    Exits 0 when nothing differs, 3 when something does."""
    import tempfile

    from drtool.diff import diff, human, live_artifacts, snapshot_artifacts
    from drtool.drift import write_drift_metrics
    from drtool.redact import Redactor

    kinds = parse_kinds(only)
    repository = context.repository()
    collectors = [c for c in all_collectors(context) if not kinds or c.kind in kinds]
    names = [collector.kind for collector in collectors]
    with tempfile.TemporaryDirectory(prefix="drtool-diff-") as scratch:
        old_manifest = load_snapshot(context, repository, old, None)
        (Path(scratch) / "old").mkdir()
        before = snapshot_artifacts(repository, old_manifest, names, Path(scratch) / "old")
        (Path(scratch) / "new").mkdir()
        if new is None:
            after = live_artifacts(context.host, collectors, Path(scratch) / "new")
        else:
            new_manifest = load_snapshot(context, repository, new, None)
            after = snapshot_artifacts(repository, new_manifest, names, Path(scratch) / "new")
        redactor = Redactor.configured(context.settings.secret_keys, context.settings.secret_paths)
        changes = diff(collectors, before, after, redactor)
    if metrics:
        write_drift_metrics(metrics, context.host_name, sorted({*before, *after}), changes)
    emit(as_json, changes, lambda: click.echo(human(changes)))
    # Differences are not an error, but cron and CI alert on them: exit 3 (0: none).
    return ExitCode.DIFFERENCES if changes else ExitCode.OK
