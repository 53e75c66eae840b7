"""drill: restore a snapshot into a sandbox, check everything, time it; the host untouched."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from drtool.cli.app import (
    Context,
    accept_missing_option,
    all_collectors,
    allow_hooks_option,
    emit,
    include_roots_option,
    json_option,
    load_snapshot,
    pass_context,
    restore_policy,
)
from drtool.errors import DrillFailed


@click.command()
@click.argument("snapshot", required=False)
@click.option("--date", metavar="YYYYMMDD", help="Newest snapshot of this UTC day for this host.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Restore into this directory and keep it, for a look (default: a temporary one).",
)
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result as Prometheus textfile metrics (node_exporter) to this file.",
)
@include_roots_option
@allow_hooks_option
@accept_missing_option
@json_option
@pass_context
def drill(
    context: Context,
    snapshot: str | None,
    date: str | None,
    keep: Path | None,
    metrics: Path | None,
    include_roots: tuple[str, ...],
    allow_hooks: bool,
    accept_missing: bool,
    as_json: bool,
) -> None:
    """Prove a snapshot restores (default latest): into a sandbox root and network namespace,
    validated by the real tools, verified, timed. Nothing on the host changes."""
    from drtool.drill import run_drill, write_metrics
    from drtool.heads import record_drill
    from drtool.redact import scrub, scrub_document

    repository = context.repository()
    manifest = load_snapshot(context, repository, snapshot, date, accept_missing)
    policy = restore_policy(context, include_roots, allow_hooks)
    timeout = context.settings.tool_timeout
    report = run_drill(repository, manifest, all_collectors(context), keep, policy, timeout)
    if metrics:
        write_metrics(metrics, report)
    record_drill(repository, report)
    emit(
        as_json,
        scrub_document(dataclasses.asdict(report)),
        lambda: click.echo(scrub(report.summary())),
    )
    if not report.passed:
        raise DrillFailed(f"drill failed: {report.problems[0]}")
