"""The command line: a thin click layer over the library.

``main`` is the one place errors become exit codes; the commands only parse, build objects and
call the library. Results go to stdout (``--json``: one JSON document), logs to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from drtool import __version__
from drtool.backup import run_backup
from drtool.check import check_repository
from drtool.collectors import Collector, collectors_for
from drtool.config import ALL_KINDS, Settings, load_settings
from drtool.errors import ConfirmationRequired, DrtoolError, ExitCode, UsageError
from drtool.forget import KeepPolicy
from drtool.forget import forget as forget_snapshots
from drtool.host import Host, check_host_name, default_host_name
from drtool.inspect import snapshot_contents
from drtool.lock import exclusive_lock
from drtool.passphrase import PassphraseSource, passphrase_source
from drtool.prune import prune as prune_repository
from drtool.repository import Repository, init_repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from drtool.snapshot import Manifest, select_snapshot
from drtool.store import Store, open_store

log = logging.getLogger("drtool")


@dataclasses.dataclass
class Context:
    """What the global options describe; objects are built only when a command needs them."""

    repo: str | None
    root: Path
    host_name: str
    host_given: bool
    config_path: Path | None
    password_command: str | None
    s3_overrides: dict[str, str]
    runner: Runner
    services: bool | None

    @cached_property
    def store(self) -> Store:
        if not self.repo:
            raise UsageError("no repository: set --repo or DRTOOL_REPO")
        return open_store(self.repo, {**self.settings.s3, **self.s3_overrides})

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config_path)

    @cached_property
    def passphrase(self) -> PassphraseSource:
        return passphrase_source(os.environ, self.password_command, self.runner)

    @cached_property
    def host(self) -> Host:
        return Host(self.root, self.host_name, self.runner, self.services)

    def repository(self) -> Repository:
        return Repository.open(self.store, self.passphrase)


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--repo", envvar="DRTOOL_REPO", metavar="PATH", help="Repository (DRTOOL_REPO).")
@click.option(
    "--root",
    envvar="DRTOOL_ROOT",
    default="/",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Host root: every path read or written lives under it (DRTOOL_ROOT).",
)
@click.option("--host", "host_name", envvar="DRTOOL_HOST", help="Host name (DRTOOL_HOST).")
@click.option(
    "--config",
    "config_path",
    envvar="DRTOOL_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="drtool.toml: extra files, kinds, per-kind settings (DRTOOL_CONFIG).",
)
@click.option(
    "--password-command",
    envvar="DRTOOL_PASSWORD_COMMAND",
    metavar="CMD",
    help="Command printing the passphrase (or DRTOOL_PASSWORD / DRTOOL_PASSWORD_FILE).",
)
@click.option(
    "--netns",
    envvar="DRTOOL_NETNS",
    metavar="NAME",
    help="Network namespace for the firewall, WireGuard and fail2ban commands (DRTOOL_NETNS).",
)
@click.option(
    "--services/--no-services",
    default=None,
    envvar="DRTOOL_SERVICES",
    help="Validate, restart and health-check services on restore (default: for the real root "
    "or with --netns; a plain sandbox root gets files only).",
)
@click.option(
    "--s3-storage-class",
    envvar="DRTOOL_S3_STORAGE_CLASS",
    metavar="CLASS",
    help="S3 storage class for new objects (STANDARD_IA, …).",
)
@click.option(
    "--sse",
    envvar="DRTOOL_S3_SSE",
    metavar="ALGORITHM",
    help="S3 server-side encryption (aws:kms).",
)
@click.option(
    "--sse-kms-key-id", envvar="DRTOOL_S3_SSE_KMS_KEY_ID", metavar="KEY", help="KMS key for --sse."
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.option("--debug", is_flag=True, help="Log everything; show tracebacks.")
@click.version_option(__version__, prog_name="drtool")
@click.pass_context
def cli(
    click_context: click.Context,
    repo: str | None,
    root: Path,
    host_name: str | None,
    config_path: Path | None,
    password_command: str | None,
    netns: str | None,
    services: bool | None,
    s3_storage_class: str | None,
    sse: str | None,
    sse_kms_key_id: str | None,
    verbose: bool,
    debug: bool,
) -> None:
    """drtool: encrypted, versioned snapshots of a host's network-security configuration,
    and validated restores."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        format="drtool: %(message)s",
        stream=sys.stderr,
    )
    click_context.meta["debug"] = debug
    click_context.obj = Context(
        repo=repo,
        root=root,
        host_name=check_host_name(host_name or default_host_name()),
        host_given=host_name is not None,
        config_path=config_path,
        password_command=password_command,
        s3_overrides={
            key: value
            for key, value in (
                ("storage_class", s3_storage_class),
                ("sse", sse),
                ("sse_kms_key_id", sse_kms_key_id),
            )
            if value
        },
        runner=Runner(netns=netns),
        services=services,
    )


def _emit(as_json: bool, document: Any, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    else:
        human()


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@cli.command()
@click.option(
    "--object-lock-days",
    type=click.IntRange(min=0),
    default=0,
    help="S3 Object Lock: keep every snapshot immutable for this many days.",
)
@pass_context
def init(context: Context, object_lock_days: int) -> None:
    """Create the repository and its key."""
    repository_id = init_repository(
        context.store, context.passphrase, object_lock_days=object_lock_days
    )
    click.echo(f"created repository {repository_id} at {context.store.location}")
    click.echo("keep the passphrase safe: without it no snapshot can be restored", err=True)


@cli.command()
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@json_option
@pass_context
def backup(context: Context, tags: tuple[str, ...], as_json: bool) -> None:
    """Back the host's configuration up; print the new snapshot id."""
    repository = context.repository()
    manifest = run_backup(
        repository,
        context.host,
        collectors_for(context.settings),
        tags=(*context.settings.tags, *tags),
    )
    _emit(as_json, manifest.summary(), lambda: click.echo(manifest.id))


@cli.command()
@json_option
@pass_context
def snapshots(context: Context, as_json: bool) -> None:
    """List snapshots: id, host, UTC time, tags, kinds, sizes (every host unless --host)."""
    repository = context.repository()
    refs = repository.snapshot_refs(context.host_name if context.host_given else None)
    summaries = [repository.read_manifest(ref).summary() for ref in refs]

    def human() -> None:
        if not summaries:
            click.echo("no snapshots")
        for item in summaries:
            click.echo(
                f"{item['id']}  {item['host']:<16} {item['time'][:19]}Z  "
                f"{_size(item['size']):>9} {_size(item['stored_size']):>9} stored  "
                f"{','.join(item['kinds']) or '-'}"
                + (f"  [{','.join(item['tags'])}]" if item["tags"] else "")
            )

    _emit(as_json, summaries, human)


def _load_snapshot(
    context: Context, repository: Repository, selector: str | None, date: str | None
) -> Manifest:
    ref = select_snapshot(repository.snapshot_refs(), selector, date, context.host_name)
    return repository.read_manifest(ref)


@cli.command()
@click.argument("snapshot")
@json_option
@pass_context
def show(context: Context, snapshot: str, as_json: bool) -> None:
    """Show what a snapshot holds (SNAPSHOT: an id, a unique prefix, or latest)."""
    repository = context.repository()
    manifest = _load_snapshot(context, repository, snapshot, None)
    contents = snapshot_contents(repository, manifest, _all_collectors(context))

    def human() -> None:
        summary = manifest.summary()
        click.echo(
            f"snapshot {manifest.id} of {manifest.host} at {manifest.time}"
            + (f" [{','.join(manifest.tags)}]" if manifest.tags else "")
        )
        for kind in contents["artifacts"]:
            if not kind["present"]:
                click.echo(f"\n{kind['kind']}: absent on the host")
                continue
            click.echo(f"\n{kind['kind']}: {kind['entries_count']} entries, {_size(kind['size'])}")
            for entry in kind["entries"]:
                click.echo(f"  {entry['listing']}")
            for name, size in kind["outputs"].items():
                click.echo(f"  output {name} ({_size(size)})")
            if kind["details"]:
                click.echo("  " + json.dumps(kind["details"], sort_keys=True))
        click.echo(f"\ntotal {_size(summary['size'])}, {_size(summary['stored_size'])} stored")

    _emit(as_json, contents, human)


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
    manifest = _load_snapshot(context, repository, snapshot, date)
    # --target is a look at the files, nothing more: no service is checked or restarted.
    destination = (
        Host(target, context.host_name, context.runner, services=False) if target else context.host
    )
    if target is None and not yes:
        _confirm(f"restore snapshot {manifest.id} of {manifest.host} onto {context.root}?")
    result = restore_snapshot(repository, manifest, destination, _all_collectors(context), kinds)
    document = {**dataclasses.asdict(result), "root": str(destination.root)}
    _emit(
        as_json,
        document,
        lambda: click.echo(
            f"restored {', '.join(result.restored) or 'nothing'} from {result.snapshot_id} "
            f"into {destination.root}"
            + (f" (absent in snapshot: {', '.join(result.absent)})" if result.absent else "")
            + (f" (skipped: {', '.join(result.skipped)})" if result.skipped else "")
        ),
    )


def _all_collectors(context: Context) -> list[Collector]:
    """Every kind, configured by drtool.toml: a snapshot may hold kinds backup does not take."""
    return collectors_for(dataclasses.replace(context.settings, kinds=ALL_KINDS))


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


@cli.command()
@click.option("--read-data", is_flag=True, help="Also decrypt every object and verify its hash.")
@json_option
@pass_context
def check(context: Context, read_data: bool, as_json: bool) -> None:
    """Verify the repository: manifests decrypt, referenced objects exist (and match)."""
    report = check_repository(context.repository(), read_data=read_data)
    _emit(as_json, dataclasses.asdict(report), lambda: click.echo(report.describe()))
    report.raise_for_problems()


@cli.command()
@click.option("--keep-last", type=int, default=0, metavar="N", help="Keep the N newest.")
@click.option("--keep-daily", type=int, default=0, metavar="N", help="Keep one a day, N days.")
@click.option("--keep-weekly", type=int, default=0, metavar="N", help="Keep one a week, N weeks.")
@click.option(
    "--keep-monthly", type=int, default=0, metavar="N", help="Keep one a month, N months."
)
@click.option("--prune", "then_prune", is_flag=True, help="Then delete unreferenced objects.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@json_option
@pass_context
def forget(
    context: Context,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    then_prune: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove the snapshots a retention policy does not keep (each host's newest stays)."""
    repository = context.repository()
    policy = KeepPolicy(keep_last, keep_daily, keep_weekly, keep_monthly)
    policy.check()
    with exclusive_lock(context.store, "forget", context.host_name):
        report = forget_snapshots(
            repository, policy, context.host_name if context.host_given else None, dry_run
        )
        pruned = prune_repository(repository) if then_prune and not dry_run else None
    document = {
        **dataclasses.asdict(report),
        "prune": dataclasses.asdict(pruned) if pruned else None,
    }
    _emit(
        as_json,
        document,
        lambda: click.echo(report.describe() + (f"\n{pruned.describe()}" if pruned else "")),
    )


@cli.command()
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
    repository = context.repository()
    with exclusive_lock(context.store, "prune", context.host_name):
        report = prune_repository(repository, timedelta(minutes=grace_minutes))
    _emit(as_json, dataclasses.asdict(report), lambda: click.echo(report.describe()))


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def main() -> None:
    """Run the CLI; the one place an error becomes a message and an exit code."""
    debug = "--debug" in sys.argv[1:]
    try:
        code = cli.main(prog_name="drtool", standalone_mode=False)
    except DrtoolError as error:
        if debug:
            log.exception("failed")
        click.echo(f"drtool: error: {error}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("drtool: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx else "drtool"
        click.echo(f"drtool: error: {error.format_message()} (see {command} --help)", err=True)
        sys.exit(ExitCode.USAGE)
    except click.ClickException as error:
        click.echo(f"drtool: error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("drtool: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as error:  # the last line of defence: one line, not a traceback
        if debug:
            log.exception("internal error")
        click.echo(
            f"drtool: internal error: {error.__class__.__name__}: {error} "
            "(run with --debug for a traceback)",
            err=True,
        )
        sys.exit(ExitCode.INTERNAL)
    sys.exit(code or ExitCode.OK)
