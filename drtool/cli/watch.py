"""watch: back up within a minute of each change, until stopped (a systemd service, a pod)."""

from __future__ import annotations

import logging
from datetime import timedelta

import click

from drtool.cli.app import Context, pass_context
from drtool.duration import Duration
from drtool.errors import DrtoolError, StorageError

log = logging.getLogger(__name__)


@click.command("watch")
@click.option("--tag", "tags", multiple=True, help="Tag each snapshot (repeatable).")
@click.option(
    "--debounce",
    type=Duration(),
    default="10s",
    show_default=True,
    help="Back up once changes have stopped for this long.",
)
@click.option(
    "--max-delay",
    type=Duration(),
    default="50s",
    show_default=True,
    help="Back up this long after the first change, however busy the host.",
)
@click.option(
    "--poll",
    type=Duration(),
    default="30s",
    show_default=True,
    help="How often the firewall and docker networks are read and compared.",
)
@click.option(
    "--docker-events",
    is_flag=True,
    help="Also follow docker's network events (a change seen at once, not at the next poll).",
)
@pass_context
def watch_command(
    context: Context,
    tags: tuple[str, ...],
    debounce: timedelta,
    max_delay: timedelta,
    poll: timedelta,
    docker_events: bool,
) -> None:
    """Back up whenever the configuration changes: inotify on the file kinds, a poll of the
    firewall and docker networks, debounced. Runs until stopped."""
    from drtool.backup import WAIT_FOR_PRUNE, run_backup
    from drtool.collectors import collectors_for
    from drtool.heads import record_backup, record_backup_failure
    from drtool.notify import notify_outcome
    from drtool.watch import DockerEvents, WatchTiming, watch

    repository = context.repository(write_only=True)
    collectors = collectors_for(context.settings)
    all_tags = tuple(dict.fromkeys((*context.settings.tags, *tags)))

    def backup() -> None:
        try:
            manifest = run_backup(
                repository, context.host, collectors, tags=all_tags, lock_wait=WAIT_FOR_PRUNE
            )
        except DrtoolError as error:
            log.error("backup failed: %s", error)
            if not isinstance(error, StorageError):  # else the store is down too
                record_backup_failure(repository, context.host_name, error.exit_code)
            notify_outcome(
                context.notify_settings(),
                "backup",
                context.host_name,
                error.exit_code,
                str(error),
                0,
            )
            return
        record_backup(repository, manifest)
        log.info("backed up after a change: snapshot %s", manifest.id)

    timing = WatchTiming(
        debounce.total_seconds(), max_delay.total_seconds(), max(poll.total_seconds(), 1.0)
    )
    events = DockerEvents() if docker_events else None
    watch(context.host, collectors, backup, timing, docker_events=events)
