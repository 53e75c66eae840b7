"""The command line's frame: the group and its global options, the context the commands
share, and ``main``, the one place an error becomes a message and an exit code.

Commands live beside it, one module per family; they only parse, build objects and call the
library. Results go to stdout (``--json``: one JSON document), logs to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from drtool import __version__, progress
from drtool.cli.argv import hoist_global_options
from drtool.cli.commands import COMMANDS, LazyGroup
from drtool.cli.termination import end_by_sigterm_if_terminated, unwind_on_sigterm
from drtool.duration import Duration
from drtool.errors import DrtoolError, ExitCode, KeyUnavailable, UsageError
from drtool.logs import JSON, TEXT, say, setup_logging

# The library (cryptography, boto3, tarfile, the collectors) is imported where a command first
# needs it, never here: `drtool --help` and a typo must not pay for it (bench/startup.py).
if TYPE_CHECKING:
    from drtool.collectors import Collector
    from drtool.config import RestorePolicy, Settings
    from drtool.host import Host
    from drtool.keyring.credential import Credential
    from drtool.notify import NotifySettings
    from drtool.opening import Opening
    from drtool.passphrase import PassphraseSource
    from drtool.repository import Repository
    from drtool.runner import Runner
    from drtool.snapshot import Manifest
    from drtool.store import Store

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
    netns: str | None
    services: bool | None
    host_network: bool = False
    retry_lock: timedelta = timedelta(0)
    notify_url: str | None = None
    key_file: Path | None = None

    def notify_settings(self) -> NotifySettings:
        """[notify] of drtool.toml, its URL replaced by --notify-url when given."""
        from drtool.notify import NotifySettings

        try:
            configured = self.settings.notify
        except DrtoolError:  # a broken drtool.toml is the failure being reported
            configured = NotifySettings()
        if self.notify_url:
            return dataclasses.replace(configured, url=self.notify_url).check()
        return configured

    @cached_property
    def store(self) -> Store:
        if not self.repo:
            raise UsageError("no repository: set --repo or DRTOOL_REPO")
        from drtool.store import open_store

        return open_store(self.repo, {**self.settings.s3, **self.s3_overrides})

    @cached_property
    def settings(self) -> Settings:
        from drtool.config import load_settings

        return load_settings(self.config_path)

    @cached_property
    def runner(self) -> Runner:
        from drtool.runner import Runner

        return Runner(netns=self.netns, timeout=self.settings.tool_timeout)

    @cached_property
    def passphrase(self) -> PassphraseSource:
        from drtool.passphrase import passphrase_source

        return passphrase_source(os.environ, self.password_command, lambda: self.runner)

    @cached_property
    def host(self) -> Host:
        from drtool.host import Host

        return Host(self.root, self.host_name, self.runner, self.services, self.host_network)

    def repository(self, write_only: bool = False) -> Repository:
        """The repository, opened by the writer credential if one is given, else by the
        passphrase. A credential writes for its own host only, and only commands that just
        write (``write_only``: backup, watch) accept it: the others say so in one line."""
        return self.opening(write_only).unlocked()

    def opening(self, write_only: bool = False) -> Opening:
        """``repository``, its key derived while the command goes on (drtool/opening.py): the
        passphrase is read (asked) now, the wait is where the command first needs the key."""
        from drtool.opening import Opening, start_opening

        if self.key_file is None:
            from drtool.keyring.unlock import KMS_KEY_VARIABLE

            kms_key = os.environ.get(KMS_KEY_VARIABLE)
            return start_opening(self.store, self.passphrase, kms_key, self.root)
        if not write_only:
            from drtool.keyring.access import WRITE_ONLY

            raise KeyUnavailable(WRITE_ONLY)
        from drtool.repository import Repository

        return Opening(self.store, Repository.open_writer(self.store, self._credential()))

    def backup_opening(self) -> Opening:
        """``opening(write_only=True)`` for one backup: a writer credential opens it with one
        listing, re-reading the config and its registration only if they changed
        (drtool/writer_stamps.py)."""
        if self.key_file is None:
            return self.opening(write_only=True)
        from drtool.opening import Opening
        from drtool.writer_stamps import open_for_backup

        return Opening(self.store, open_for_backup(self.store, self._credential(), self.host))

    def _credential(self) -> Credential:
        from drtool.keyring.credential import read_credential

        assert self.key_file is not None
        credential = read_credential(self.key_file)
        if credential.keys.host != self.host_name:
            raise KeyUnavailable(
                f"the key file is a credential for host {credential.keys.host}, "
                f"not {self.host_name}: a writer backs up its own host only"
            )
        return credential

    def lock(self, purpose: str) -> AbstractContextManager[None]:
        """The repository's exclusive lock, waited for as long as --retry-lock says."""
        from drtool.lock import waiting_lock

        return waiting_lock(self.store, purpose, self.host_name, self.retry_lock)


pass_context = click.make_pass_decorator(Context)


@click.group(
    cls=LazyGroup,
    table=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
    "--key-file",
    envvar="DRTOOL_KEY_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A write-only host credential (drtool key add-writer): no passphrase (DRTOOL_KEY_FILE).",
)
@click.option(
    "--netns",
    envvar="DRTOOL_NETNS",
    metavar="NAME",
    help="Network namespace for the firewall, WireGuard and fail2ban commands (DRTOOL_NETNS).",
)
@click.option(
    "--host-network",
    is_flag=True,
    envvar="DRTOOL_HOST_NETWORK",
    help="The firewall and interfaces drtool sees are the host's, though --root is not / (a "
    "container with host networking, the host's /etc mounted) (DRTOOL_HOST_NETWORK).",
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
@click.option(
    "--retry-lock",
    type=Duration(),
    default="0s",
    envvar="DRTOOL_RETRY_LOCK",
    help="Wait up to this long for the repository's lock (5m, 1h) (DRTOOL_RETRY_LOCK).",
)
@click.option(
    "--notify-url",
    envvar="DRTOOL_NOTIFY_URL",
    metavar="URL",
    help="POST a JSON outcome here when a command fails ([notify] in drtool.toml: also on "
    "success) (DRTOOL_NOTIFY_URL).",
)
@click.option(
    "--log-format",
    type=click.Choice([TEXT, JSON]),
    default=TEXT,
    envvar="DRTOOL_LOG_FORMAT",
    help="Logs on stderr as text, or as JSON lines (journald, Loki) (DRTOOL_LOG_FORMAT).",
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
    key_file: Path | None,
    netns: str | None,
    host_network: bool,
    services: bool | None,
    s3_storage_class: str | None,
    sse: str | None,
    sse_kms_key_id: str | None,
    retry_lock: timedelta,
    notify_url: str | None,
    log_format: str,
    verbose: bool,
    debug: bool,
) -> None:
    """drtool: encrypted, versioned snapshots of a host's network-security configuration,
    and validated restores."""
    from drtool.hostname import check_host_name, default_host_name
    from drtool.notify import NotifySettings
    from drtool.redact import ScrubFilter

    setup_logging(
        logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING, log_format
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(ScrubFilter())
    progress.configure(
        sys.stderr.isatty() and log_format == TEXT,
        PROGRESS_LABELS.get(click_context.invoked_subcommand or ""),
    )
    click_context.call_on_close(progress.close)
    click_context.meta["debug"] = debug
    if notify_url:
        NotifySettings(url=notify_url).check()
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
        netns=netns,
        services=services,
        host_network=host_network,
        retry_lock=retry_lock,
        notify_url=notify_url,
        key_file=key_file,
    )
    _invocation.update(context=click_context.obj, command=click_context.invoked_subcommand)


def emit(as_json: bool, document: Any, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    else:
        human()


def _json_output(_context: click.Context, _parameter: click.Parameter, as_json: bool) -> bool:
    if as_json:
        progress.disable()  # the output is for a program: no bars on its terminal either
    return as_json


json_option = click.option(
    "--json", "as_json", is_flag=True, callback=_json_output, help="Print one JSON document."
)
# The bytes bar each long command shows on a terminal (check --read-data counts objects).
PROGRESS_LABELS = {
    "backup": "uploading",
    "restore": "fetching",
    "drill": "drill: fetching",
    "diff": "fetching",
    "check": "reading",
}
allow_hooks_option = click.option(
    "--allow-hooks",
    is_flag=True,
    help="Let the snapshot's hooks run (nginx modules, WireGuard PostUp, fail2ban actions…): "
    "only for a snapshot you trust; the plan lists them ([restore] allow_hooks).",
)


def size_text(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


accept_missing_option = click.option(
    "--accept-missing",
    is_flag=True,
    help="Go on though snapshots this machine has seen, or that a manifest names as previous, "
    "are gone with no record of a forget (refused otherwise, exit 14).",
)


def load_snapshot(
    context: Context,
    repository: Repository | Opening,
    selector: str | None,
    date: str | None,
    accept_missing: bool | None = None,
) -> Manifest:
    """The manifest ``selector``/``date`` name (``latest`` and ``--date``: only this host's
    snapshots are listed). With ``accept_missing`` given (True or False), the chain of the host
    is checked first: snapshots gone without a tombstone are refused (exit 14) unless it is True
    (drtool/chain.py). A repository still being opened is listed while its key is derived."""
    from drtool.chain import refuse_gaps
    from drtool.manifests import find_snapshot
    from drtool.opening import unlock_errors_first, unlocked
    from drtool.seen import SeenState
    from drtool.snapshot import select_snapshot

    if accept_missing is None:
        return find_snapshot(unlocked(repository), selector, date, context.host_name)
    own = date is not None or selector in (None, "latest")
    with unlock_errors_first(repository):
        refs = repository.snapshot_refs(context.host_name if own else None)
        chosen = select_snapshot(refs, selector, date, context.host_name)
    repository = unlocked(repository)
    seen = SeenState.load(context.host, repository.repository_id)
    refuse_gaps(repository, chosen.host, refs, seen, accept_missing)
    return repository.read_manifest(chosen)


def include_roots_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--include-root",
        "include_roots",
        multiple=True,
        metavar="PATH",
        help="A root the snapshot may replace beyond this host's own (drtool.toml); repeatable. "
        "For a replacement host without drtool.toml.",
    )(function)


def restore_policy(
    context: Context, include_roots: tuple[str, ...], allow_hooks: bool = False
) -> RestorePolicy:
    """drtool.toml's [restore], with the roots the operator names on the command line and
    --allow-hooks."""
    from drtool.hostpath import relative_host_path
    from drtool.own_files import own_files

    for path in include_roots:
        relative_host_path(path)  # one line (exit 17) for a relative or unusable path
    policy = context.settings.restore
    return dataclasses.replace(
        policy,
        include_roots=(*policy.include_roots, *include_roots),
        allow_hooks=policy.allow_hooks or allow_hooks,
        own_files=own_files(
            context.root, os.environ, context.config_path, context.password_command, context.repo
        ),
    )


def all_collectors(context: Context) -> list[Collector]:
    """Every kind, configured by drtool.toml: a snapshot may hold kinds backup does not take."""
    from drtool.collectors import collectors_for
    from drtool.kinds import ALL_KINDS

    return collectors_for(dataclasses.replace(context.settings, kinds=ALL_KINDS))


# What main() needs after the command ran, to notify: its context, its name, its error, and
# whether it ran to the end (`drtool backup --help` exits 0 too, having backed nothing up).
_invocation: dict[str, Any] = {}


@cli.result_callback()
def _completed(result: object, **_options: object) -> object:
    """The command ran to its end; its result (an exit code, such as diff's 3) passes on."""
    _invocation["completed"] = True
    return result


def main() -> None:
    """Run the CLI, then send its outcome to the notification URL if one is set."""
    started = time.monotonic()
    try:
        run()
    except SystemExit as ending:
        context, command = _invocation.get("context"), _invocation.get("command")
        code = ending.code if isinstance(ending.code, int) else ExitCode.INTERNAL
        if isinstance(context, Context) and command and (code or _invocation.get("completed")):
            try:
                settings = context.notify_settings()
            except DrtoolError as error:
                say("warning", f"not notified: {error}")
            else:
                from drtool.notify import notify_outcome

                notify_outcome(
                    settings,
                    command,
                    context.host_name,
                    code,
                    _invocation.get("error"),
                    time.monotonic() - started,
                )
        raise


def run() -> None:
    """Run the CLI; the one place an error becomes a message and an exit code."""
    debug = "--debug" in sys.argv[1:]
    if not sys.argv[1:]:
        click.echo(
            f"Usage: drtool [OPTIONS] COMMAND [ARGS]...\n"
            f"Commands: {', '.join(sorted(COMMANDS))}\n"
            "Try 'drtool --help' for help.",
            err=True,
        )
        sys.exit(ExitCode.USAGE)
    unwind_on_sigterm()
    try:
        arguments = hoist_global_options(cli, sys.argv[1:])
        code = cli.main(arguments, prog_name="drtool", standalone_mode=False)
    except DrtoolError as error:
        from drtool.redact import scrub

        _invocation["error"] = scrub(str(error))
        if debug:
            log.exception("failed")
        say("error", scrub(str(error)))
        sys.exit(error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as interrupted:  # click wraps Ctrl-C
        click.echo("drtool: interrupted", err=True)
        end_by_sigterm_if_terminated(interrupted)
        sys.exit(ExitCode.INTERRUPTED)
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx else "drtool"
        say("error", f"{error.format_message()} (see {command} --help)")
        sys.exit(ExitCode.USAGE)
    except click.ClickException as error:
        say("error", error.format_message())
        sys.exit(error.exit_code)
    except Exception as error:  # the last line of defence: one line, not a traceback
        from drtool.redact import scrub

        if debug:
            log.exception("internal error")
        # A bug's message may quote anything it was handed (a key, a secret line): scrubbed as
        # the logs are, and kept to one line.
        message = " ".join(scrub(str(error)).split())
        click.echo(
            f"drtool: internal error: {error.__class__.__name__}: {message} "
            "(run with --debug for a traceback)",
            err=True,
        )
        sys.exit(ExitCode.INTERNAL)
    sys.exit(code or ExitCode.OK)
