"""init, backup, snapshots, show: making snapshots and looking at them."""

from __future__ import annotations

import time
from pathlib import Path

import click

from drtool.cli.app import (
    Context,
    all_collectors,
    emit,
    json_option,
    load_snapshot,
    pass_context,
    size_text,
)
from drtool.cli.snapshot_table import print_snapshot_table
from drtool.errors import DrtoolError, StorageError


@click.command()
@click.option(
    "--object-lock-days",
    type=click.IntRange(min=0),
    default=0,
    help="S3 Object Lock: keep every snapshot immutable for this many days.",
)
@click.option(
    "--kms-key-id",
    envvar="DRTOOL_KMS_KEY_ID",
    metavar="ARN",
    help="AWS KMS wraps the repository key (no passphrase); later commands find it by "
    "DRTOOL_KMS_KEY_ID.",
)
@pass_context
def init(context: Context, object_lock_days: int, kms_key_id: str | None) -> None:
    """Create the repository and its key."""
    from drtool.repository import init_repository

    repository_id = init_repository(
        context.store,
        context.passphrase,
        object_lock_days=object_lock_days,
        kms_key_id=kms_key_id,
    )
    click.echo(f"created repository {repository_id} at {context.store.location}")
    secret = f"KMS key {kms_key_id}" if kms_key_id else "the passphrase"
    click.echo(f"keep {secret} safe: without it no snapshot can be restored", err=True)


@click.command()
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write Prometheus textfile metrics (success, last success time, duration, bytes).",
)
@json_option
@pass_context
def backup(context: Context, tags: tuple[str, ...], metrics: Path | None, as_json: bool) -> None:
    """Back the host's configuration up; print the new snapshot id."""
    from drtool.heads import record_backup, record_backup_failure
    from drtool.metrics import write_textfile

    started = time.monotonic()
    opening = None
    try:
        # The key is derived while the backup's modules load and its collectors run.
        opening = context.backup_opening()
        from drtool.backup import run_backup
        from drtool.collectors import collectors_for

        manifest = run_backup(
            opening,
            context.host,
            collectors_for(context.settings),
            tags=tuple(dict.fromkeys((*context.settings.tags, *tags))),
            lock_wait=context.retry_lock,
        )
    except DrtoolError as error:
        if metrics:
            write_textfile(metrics, "backup", context.host_name, False, {})
        # Only a repository whose key opened is written to: a wrong passphrase writes nothing.
        repository = opening.opened() if opening else None
        if repository and not isinstance(error, StorageError):  # else the store is down too
            record_backup_failure(repository, context.host_name, error.exit_code)
        raise
    record_backup(opening.unlocked(), manifest)
    if metrics:
        summary = manifest.summary()
        write_textfile(
            metrics,
            "backup",
            context.host_name,
            True,
            {
                "duration_seconds": ("How long the last backup took.", time.monotonic() - started),
                "bytes": ("Bytes of configuration in the last snapshot.", summary["size"]),
                "stored_bytes": ("Bytes the last backup stored.", summary["stored_size"]),
            },
        )
    emit(as_json, manifest.summary(), lambda: click.echo(manifest.id))


@click.command()
@click.option(
    "--latest", type=click.IntRange(min=1), metavar="N", help="Only the N newest of each host."
)
@click.option(
    "--group-by",
    type=click.Choice(["host"]),
    help="One table per host (--json: a list of {group_key, snapshots}).",
)
@json_option
@pass_context
def snapshots(context: Context, latest: int | None, group_by: str | None, as_json: bool) -> None:
    """List snapshots: id, host, UTC time, sizes, kinds, tags (every host unless --host)."""
    from drtool.opening import unlock_errors_first

    opening = context.opening()  # the key is derived while modules load and the listing runs
    from drtool.snapshot_index import fleet_summaries

    with unlock_errors_first(opening):
        hosts = [context.host_name] if context.host_given else opening.snapshot_hosts()
    summaries = fleet_summaries(opening.unlocked(), hosts, latest)
    if group_by:
        document: object = [
            {"group_key": {"host": host}, "snapshots": items} for host, items in summaries.items()
        ]
    else:
        document = sorted(
            (item for items in summaries.values() for item in items),
            key=lambda item: (item["time"], item["id"]),
        )

    def human() -> None:
        if not summaries:
            click.echo("no snapshots")
        elif group_by:
            for host, items in summaries.items():
                click.echo(f"snapshots of host {host}:")
                print_snapshot_table(items)
                click.echo("")
        else:
            print_snapshot_table(document)  # type: ignore[arg-type]

    emit(as_json, document, human)


@click.command()
@click.argument("snapshot")
@json_option
@pass_context
def show(context: Context, snapshot: str, as_json: bool) -> None:
    """Show what a snapshot holds (SNAPSHOT: an id, a unique prefix, or latest)."""
    opening = context.opening()  # the key is derived while the modules load
    from drtool.inspect import snapshot_contents
    from drtool.readable import readable

    manifest = load_snapshot(context, opening, snapshot, None)
    repository = opening.unlocked()
    contents = snapshot_contents(repository, manifest, all_collectors(context))

    def human() -> None:
        summary = manifest.summary()
        click.echo(
            f"snapshot {manifest.id} of {manifest.host} at {manifest.time}"
            + (f" [{','.join(manifest.tags)}]" if manifest.tags else "")
        )
        for kind in contents["artifacts"]:
            if not kind["present"]:
                reason = kind["metadata"].get("reason")
                click.echo(
                    f"\n{kind['kind']}: absent" + (f" ({reason})" if reason else " on the host")
                )
                continue
            size = size_text(kind["size"])
            click.echo(f"\n{kind['kind']}: {kind['entries_count']} entries, {size}")
            for entry in kind["entries"]:
                click.echo(f"  {entry['listing']}")
            for name, size in kind["outputs"].items():
                click.echo(f"  output {name} ({size_text(size)})")
            for key, value in kind["details"].items():
                click.echo("\n".join(readable(key, value)))
        total, stored = size_text(summary["size"]), size_text(summary["stored_size"])
        click.echo(f"\ntotal {total}, {stored} stored")

    emit(as_json, contents, human)
