"""check, forget, prune: keeping a repository sound and within its retention."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import click

from drtool.cli.app import (
    Context,
    emit,
    json_option,
    pass_context,
)
from drtool.retention import DEFAULT_PRE_RESTORE, Duration, KeepPolicy


@click.command()
@click.option("--read-data", is_flag=True, help="Also decrypt every object and verify its hash.")
@click.option(
    "--read-data-subset",
    metavar="N%",
    callback=lambda _context, _parameter, value: _percentage(value),
    help="Read and verify the blobs of a random N% of the packs (format 2).",
)
@json_option
@pass_context
def check(context: Context, read_data: bool, read_data_subset: float, as_json: bool) -> None:
    """Verify the repository: manifests decrypt, referenced objects exist (and match), no
    snapshot is gone that a manifest names or this machine saw, without a tombstone."""
    from drtool.check import check_repository
    from drtool.heads import record_check
    from drtool.seen import SeenState

    repository = context.repository()
    seen = SeenState.load(context.host, repository.repository_id)
    report = check_repository(repository, read_data, read_data_subset, seen)
    record_check(repository, not report.problems, read_data)
    emit(as_json, dataclasses.asdict(report), lambda: click.echo(report.describe()))
    report.raise_for_problems()


def _percentage(value: str | None) -> float:
    """``10%`` (or ``10``) as 10.0; a usage error for anything but 0 < N <= 100."""
    if value is None:
        return 0.0
    try:
        percent = float(value.removesuffix("%"))
    except ValueError:
        percent = -1.0
    if not 0 < percent <= 100:
        raise click.BadParameter(f"{value!r} is not a percentage in (0, 100], e.g. 10%")
    return percent


@click.command()
@click.option("--keep-last", type=int, default=0, metavar="N", help="Keep the N newest.")
@click.option("--keep-daily", type=int, default=0, metavar="N", help="Keep one a day, N days.")
@click.option("--keep-weekly", type=int, default=0, metavar="N", help="Keep one a week, N weeks.")
@click.option(
    "--keep-monthly", type=int, default=0, metavar="N", help="Keep one a month, N months."
)
@click.option(
    "--keep-within",
    metavar="DURATION",
    help="Keep every backup within DURATION (7d, 36h, 1y6m) of the newest.",
)
@click.option(
    "--keep-pre-restore",
    metavar="DURATION",
    default=str(DEFAULT_PRE_RESTORE),
    show_default=True,
    help="Keep the pre-restore snapshots of the last DURATION (they take no other rule's slot).",
)
@click.option("--prune", "then_prune", is_flag=True, help="Then delete unreferenced objects.")
@click.option(
    "--all-hosts",
    is_flag=True,
    help="Apply the policy to every host's snapshots (default: this host's: --host, else the "
    "machine's name).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@json_option
@pass_context
def forget(
    context: Context,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    keep_within: str | None,
    keep_pre_restore: str,
    then_prune: bool,
    all_hosts: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove the snapshots a retention policy does not keep (each host's newest stays); say
    which rule keeps each snapshot kept, and why each removed one goes."""
    from drtool.forget import forget as forget_snapshots
    from drtool.prune import prune as prune_repository

    repository = context.repository()
    policy = KeepPolicy(
        keep_last,
        keep_daily,
        keep_weekly,
        keep_monthly,
        within=Duration.parse(keep_within, "--keep-within") if keep_within else None,
        pre_restore=Duration.parse(keep_pre_restore, "--keep-pre-restore"),
    )
    policy.check()
    with context.lock("forget"):
        report = forget_snapshots(
            repository, policy, None if all_hosts else context.host_name, dry_run
        )
        pruned = prune_repository(repository) if then_prune and not dry_run else None
    document = {
        **dataclasses.asdict(report),
        "prune": dataclasses.asdict(pruned) if pruned else None,
    }
    emit(
        as_json,
        document,
        lambda: click.echo(report.describe() + (f"\n{pruned.describe()}" if pruned else "")),
    )


@click.command()
@click.option(
    "--grace-minutes",
    type=click.IntRange(min=0),
    default=60,
    show_default=True,
    help="Leave objects younger than this (a backup may be writing them).",
)
@json_option
@pass_context
def prune(context: Context, grace_minutes: int, as_json: bool) -> None:
    """Delete objects no snapshot references, and leftovers of interrupted writes."""
    from drtool.prune import prune as prune_repository

    repository = context.repository()
    with context.lock("prune"):
        report = prune_repository(repository, timedelta(minutes=grace_minutes))
    emit(as_json, dataclasses.asdict(report), lambda: click.echo(report.describe()))
