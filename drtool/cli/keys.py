"""`drtool key ...`: the keys of a format-2 repository (drtool/keyring/manage.py does the work)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from drtool.cli.app import Context, emit, json_option, pass_context


@click.group()
def key() -> None:
    """List, add, change, remove and rotate the repository's keys (format 2)."""


@key.command("list")
@json_option
@pass_context
def list_command(context: Context, as_json: bool) -> None:
    """Every key: id, label, kind (passphrase|kms|writer), host, created, last used."""
    from drtool.keyring import manage

    rows = manage.list_keys(context.repository())

    def human() -> None:
        click.echo(f"{'ID':<16}  {'KIND':<10}  {'LABEL':<16}  {'HOST':<16}  {'CREATED':<27}  STATE")
        for row in rows:
            state = f"revoked {row['revoked']}" if row["revoked"] else ""
            state = state or ("" if row["endorsed"] else "NOT MADE BY A READER: remove it")
            state = state or ("in use" if row["last_used"] and row["kind"] != "writer" else "")
            click.echo(
                f"{row['id']:<16}  {row['kind']:<10}  {row['label'][:16]:<16}  "
                f"{(row['host'] or '-'):<16}  {row['created'] or '-':<27}  {state}"
            )

    emit(as_json, rows, human)


@key.command("add")
@click.option("--label", help="What this key is for (a person, a safe).")
@click.option("--kms-key-id", metavar="ARN", help="An AWS KMS key instead of a passphrase.")
@pass_context
def add(context: Context, label: str | None, kms_key_id: str | None) -> None:
    """Add a passphrase (DRTOOL_NEW_PASSWORD(_FILE) or a prompt), or a KMS key."""
    from drtool.keyring import manage
    from drtool.passphrase import new_passphrase_source

    if not label and not kms_key_id:
        raise click.UsageError("Missing option '--label'.")
    repository = context.repository()
    if kms_key_id:
        with context.lock("key add"):
            key_id = manage.add_kms_key(repository, kms_key_id, label or "kms")
    else:
        new = new_passphrase_source(os.environ).read(confirm=True)
        with context.lock("key add"):
            key_id = manage.add_passphrase_key(repository, new, label or "")
    click.echo(key_id)


@key.command()
@click.argument("key_id", required=False)
@pass_context
def passwd(context: Context, key_id: str | None) -> None:
    """Change a passphrase (default: the one in use)."""
    from drtool.keyring import manage
    from drtool.passphrase import new_passphrase_source

    repository = context.repository()
    new = new_passphrase_source(os.environ).read(confirm=True)
    with context.lock("key passwd"):
        changed = manage.change_passphrase(repository, new, key_id)
    click.echo(f"changed the passphrase of key {changed}")


@key.command()
@click.argument("key_id")
@pass_context
def remove(context: Context, key_id: str) -> None:
    """Remove a key (a writer is revoked); the last key that can read is never removed."""
    from drtool.keyring import manage

    repository = context.repository()
    with context.lock("key remove"):
        click.echo(manage.remove_key(repository, key_id))


@key.command()
@click.option("--keep-writers", is_flag=True, help="Writer credentials issued before stay valid.")
@json_option
@pass_context
def rotate(context: Context, keep_writers: bool, as_json: bool) -> None:
    """A new repository key for new snapshots; old ones still restore; nothing re-encrypted."""
    from drtool.keyring import manage

    repository = context.repository()
    with context.lock("key rotate"):
        rotation = manage.rotate(repository, keep_writers)

    def human() -> None:
        click.echo(f"generation {rotation.generation} made, {rotation.key_files} key file(s)")
        if rotation.revoked_hosts:
            click.echo(
                "writer credentials revoked; these hosts need a new one (drtool key add-writer): "
                + ", ".join(rotation.revoked_hosts)
            )
        if rotation.kept_hosts:
            click.echo(
                "writers kept (still on the old generation): " + ", ".join(rotation.kept_hosts)
            )

    emit(
        as_json,
        {
            "generation": rotation.generation,
            "key_files": rotation.key_files,
            "hosts_needing_a_credential": list(rotation.revoked_hosts),
            "writers_kept": list(rotation.kept_hosts),
        },
        human,
    )


@key.command("add-writer")
@click.option("--host", "writer_host", required=True, help="The host this credential backs up.")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the credential (0600; never over an existing file).",
)
@click.option("--label", default="", help="A note for `drtool key list`.")
@pass_context
def add_writer(context: Context, writer_host: str, output: Path, label: str) -> None:
    """A write-only credential for one host: it backs up, and decrypts nothing."""
    from drtool.keyring import manage
    from drtool.keyring.credential import write_credential

    repository = context.repository()
    if output.exists():
        write_credential(output, b"")  # raises: never over an existing file
    with context.lock("key add-writer"):
        writer_id, credential = manage.add_writer(repository, writer_host, label)
        write_credential(output, credential)
    click.echo(writer_id)
    click.echo(f"give {output} to {writer_host} (DRTOOL_KEY_FILE); it can read nothing", err=True)


@key.command()
@click.option("--paper", is_flag=True, required=True, help="As text to print.")
@pass_context
def export(context: Context, paper: bool) -> None:
    """The recovery key as text to print and keep offline (a new key; remove it to withdraw)."""
    from drtool.keyring import manage

    repository = context.repository()
    with context.lock("key export"):
        key_id, code = manage.paper_key(repository)
    click.echo(f"drtool recovery key for repository {repository.repository_id}")
    click.echo(f"key id: {key_id}")
    click.echo(f"passphrase: {code}")
    click.echo("use it as the passphrase (DRTOOL_PASSWORD_FILE); keep this paper offline")
