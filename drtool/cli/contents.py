"""ls and dump: what a snapshot holds, and one file or ruleset of it on stdout."""

from __future__ import annotations

import dataclasses
import sys

import click

from drtool.cli.app import Context, cli, emit, json_option, load_snapshot, pass_context
from drtool.dump import snapshot_opened


@cli.command("ls")
@click.argument("snapshot")
@click.argument("path", required=False)
@json_option
@pass_context
def ls_command(context: Context, snapshot: str, path: str | None, as_json: bool) -> None:
    """List the files and command outputs SNAPSHOT holds, or those under PATH (a directory,
    a kind such as iptables, or an address such as nftables:ruleset)."""
    repository = context.repository()
    manifest = load_snapshot(context, repository, snapshot, None)
    with snapshot_opened(repository, manifest) as opened:
        items = opened.listing(path)
    emit(
        as_json,
        [dataclasses.asdict(item) for item in items],
        lambda: click.echo("\n".join(item.listing for item in items)),
    )


@cli.command("dump")
@click.argument("snapshot")
@click.argument("path")
@pass_context
def dump_command(context: Context, snapshot: str, path: str) -> None:
    """Write one file of SNAPSHOT (PATH: /etc/nginx/nginx.conf) or one command output
    (iptables:v4, iptables:v6, nftables:ruleset: what iptables-restore / nft -f accept) to
    standard output, byte for byte."""
    repository = context.repository()
    manifest = load_snapshot(context, repository, snapshot, None)
    with snapshot_opened(repository, manifest) as opened:
        content = opened.content(path)
    write_content(content)


def write_content(content: bytes) -> None:
    """The one place dump's bytes leave drtool (where a secrets gate belongs)."""
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()
