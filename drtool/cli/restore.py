"""restore: a snapshot back onto the host, or under --target for a look."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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
from drtool.config import DEFAULT_CONFIRM_TIMEOUT
from drtool.errors import ConfirmationRequired, FirewallReverted, RestoreOutcome, UsageError
from drtool.kinds import ALL_KINDS

if TYPE_CHECKING:
    from drtool.restore import RestoreReport


@click.command()
@click.argument("snapshot", required=False)
@click.option("--date", metavar="YYYYMMDD", help="Newest snapshot of this UTC day for this host.")
@click.option("--only", metavar="KINDS", help=f"Comma-separated kinds ({', '.join(ALL_KINDS)}).")
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the files under this directory, for a look (no service touched, no confirmation).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required off a terminal).")
@click.option(
    "--confirm-timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_CONFIRM_TIMEOUT,
    show_default=True,
    help="Seconds for the firewall's probe or `drtool confirm` before the old rules return.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and the diffs; change nothing.")
@click.option("--resume", is_flag=True, help="Finish a restore that was interrupted.")
@allow_hooks_option
@click.option("--rollback", is_flag=True, help="Undo a restore that was interrupted or failed.")
@click.option(
    "--abandon",
    is_flag=True,
    help="Drop an unfinished restore once you have repaired the host by hand.",
)
@include_roots_option
@accept_missing_option
@json_option
@pass_context
def restore(
    context: Context,
    snapshot: str | None,
    date: str | None,
    only: str | None,
    target: Path | None,
    yes: bool,
    confirm_timeout: float,
    dry_run: bool,
    resume: bool,
    rollback: bool,
    abandon: bool,
    include_roots: tuple[str, ...],
    allow_hooks: bool,
    accept_missing: bool,
    as_json: bool,
) -> None:
    """Restore a snapshot (an id, a unique prefix, latest; default latest) onto the host."""
    if abandon:
        from drtool.abandon import abandon as abandon_restore

        if resume or rollback or snapshot or date or target:
            raise UsageError(
                "--abandon takes no snapshot, --date, --target, --resume or --rollback"
            )
        _confirm_unless(
            yes,
            "abandon the unfinished restore, leaving the host as it is now?",
            "abandoning a restore",
        )
        said = abandon_restore(context.host)
        emit(as_json, {"abandoned": said}, lambda: click.echo(said))
        return
    policy = restore_policy(context, include_roots, allow_hooks)
    if resume or rollback:
        if (resume and rollback) or snapshot or date or target:
            raise UsageError("--resume and --rollback take no snapshot, --date or --target")
        _confirm_unless(
            yes,
            "roll back the interrupted restore?" if rollback else "resume the interrupted restore?",
        )
        from drtool.restore import resume as resume_restore
        from drtool.restore import roll_back

        collectors = all_collectors(context)
        _run(
            as_json,
            lambda: (
                roll_back(context.host, collectors)
                if rollback
                else resume_restore(context.host, collectors, confirm_timeout, policy)
            ),
        )
        return
    kinds = parse_kinds(only)
    opening = context.opening()  # the key is derived while the engine and collectors load
    from drtool.host import Host
    from drtool.restore import restore_snapshot

    collectors = all_collectors(context)
    # latest and --date pick by what is listed: the host's chain is checked first.
    chain = accept_missing if snapshot in (None, "latest") else None
    manifest = load_snapshot(context, opening, snapshot, date, chain)
    repository = opening.unlocked()
    # --target is a look at the files, nothing more: no service is checked or restarted.
    destination = dataclasses.replace(
        Host(target, context.host_name, context.runner, services=False) if target else context.host,
        allow_hooks=policy.allow_hooks,
    )
    if dry_run:  # the diff (difflib, the redactor) loads for a dry run only
        from drtool.dry_run import describe_plan, dry_run_plan
        from drtool.redact import Redactor

        redactor = Redactor.configured(context.settings.secret_keys, context.settings.secret_paths)
        plan = dry_run_plan(repository, manifest, destination, collectors, kinds, redactor, policy)
        emit(as_json, plan, lambda: click.echo(describe_plan(plan)))
        return
    if target is None:
        _confirm_unless(
            yes, f"restore snapshot {manifest.id} of {manifest.host} onto {context.root}?"
        )
    _run(
        as_json,
        lambda: restore_snapshot(
            repository,
            manifest,
            destination,
            collectors,
            kinds,
            confirm_timeout,
            policy,
            keep_state=target is None,
        ),
    )


def _run(as_json: bool, action: Callable[[], RestoreReport]) -> None:
    """Run a restore action; print its report whatever the outcome, then its error if any."""
    try:
        report = action()
    except RestoreOutcome as outcome:
        _print_report(as_json, outcome.report)
        raise
    _print_report(as_json, report)


def _print_report(as_json: bool, report: object) -> None:
    from drtool.redact import scrub, scrub_document

    # A tool's message in a report may quote a key it choked on: scrubbed like an error.
    document = scrub_document(dataclasses.asdict(report))  # type: ignore[call-overload]
    emit(
        as_json,
        document,
        lambda: click.echo(
            scrub(report.summary())  # type: ignore[attr-defined]
            + "".join(f"\n  to do: {action}" for action in document["operator_actions"])
        ),
    )


@click.command()
@pass_context
def confirm(context: Context) -> None:
    """Keep the restored firewall: stop its dead-man's switch from putting the old rules back."""
    from drtool import deadman

    switches = deadman.pending(context.host)
    reverted = deadman.reverted_at(context.host) if not switches else None
    if reverted is not None:
        raise FirewallReverted(
            "too late: the dead-man's switch already put the previous firewall rules back, "
            f"reverted at {reverted:%H:%M:%S} UTC on {reverted:%Y-%m-%d}"
        )
    if not switches:
        raise UsageError("no restored firewall is waiting for a confirmation on this host")
    for switch in switches:
        deadman.confirm(switch)
    click.echo(f"confirmed: the restored firewall stays ({len(switches)} switch(es) stopped)")


def parse_kinds(only: str | None) -> set[str] | None:
    if not only:
        return None
    kinds = {kind.strip() for kind in only.split(",") if kind.strip()}
    unknown = sorted(kinds - set(ALL_KINDS))
    if unknown:
        raise UsageError(f"unknown kind {unknown[0]!r} in --only (known: {', '.join(ALL_KINDS)})")
    return kinds


def _confirm_unless(yes: bool, question: str, action: str = "restoring onto the host") -> None:
    if yes:
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise ConfirmationRequired(f"{action} needs --yes when not on a terminal")
    if not click.confirm(question, err=True):
        raise ConfirmationRequired("restore cancelled; nothing was changed")
