"""init, backup, snapshots, show: making snapshots and looking at them."""

from __future__ import annotations

import time
from pathlib import Path

import click

from drtool.backup import run_backup
from drtool.cli.app import (
    Context,
    all_collectors,
    cli,
    emit,
    json_option,
    load_snapshot,
    pass_context,
    size_text,
)
from drtool.collectors import collectors_for
from drtool.errors import DrtoolError
from drtool.inspect import snapshot_contents
from drtool.metrics import write_textfile
from drtool.readable import readable
from drtool.repository import init_repository


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
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write Prometheus textfile metrics (success, last success time, duration, bytes).",
)
@json_option
@pass_context
def backup(context: Context, tags: tuple[str, ...], metrics: Path | None, as_json: bool) -> None:
    """Back the host's configuration up; print the new snapshot id."""
    started = time.monotonic()
    try:
        manifest = run_backup(
            context.repository(),
            context.host,
            collectors_for(context.settings),
            tags=(*context.settings.tags, *tags),
        )
    except DrtoolError:
        if metrics:
            write_textfile(metrics, "backup", context.host_name, False, {})
        raise
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
                f"{size_text(item['size']):>9} {size_text(item['stored_size']):>9} stored  "
                f"{','.join(item['kinds']) or '-'}"
                + (f"  [{','.join(item['tags'])}]" if item["tags"] else "")
            )

    emit(as_json, summaries, human)


@cli.command()
@click.argument("snapshot")
@json_option
@pass_context
def show(context: Context, snapshot: str, as_json: bool) -> None:
    """Show what a snapshot holds (SNAPSHOT: an id, a unique prefix, or latest)."""
    repository = context.repository()
    manifest = load_snapshot(context, repository, snapshot, None)
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
