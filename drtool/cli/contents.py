"""ls and dump: what a snapshot holds, and one file or ruleset of it on stdout."""

from __future__ import annotations

import dataclasses
import sys

import click

from drtool.cli.app import (
    Context,
    all_collectors,
    emit,
    json_option,
    load_snapshot,
    pass_context,
)


@click.command("ls")
@click.argument("snapshot")
@click.argument("path", required=False)
@json_option
@pass_context
def ls_command(context: Context, snapshot: str, path: str | None, as_json: bool) -> None:
    """List the files and command outputs SNAPSHOT holds, or those under PATH (a directory,
    a kind such as iptables, or an address such as nftables:ruleset)."""
    opening = context.opening()  # the key is derived while the modules load
    from drtool.dump import snapshot_opened

    manifest = load_snapshot(context, opening, snapshot, None)
    with snapshot_opened(opening.unlocked(), manifest) as opened:
        items = opened.listing(path)
    emit(
        as_json,
        [dataclasses.asdict(item) for item in items],
        lambda: click.echo("\n".join(item.listing for item in items)),
    )


@click.command("dump")
@click.argument("snapshot")
@click.argument("path")
@click.option("--secrets", is_flag=True, help="Print the file even if it holds a secret.")
@pass_context
def dump_command(context: Context, snapshot: str, path: str, secrets: bool) -> None:
    """Write one file of SNAPSHOT (PATH: /etc/nginx/nginx.conf) or one command output
    (iptables:v4, iptables:v6, nftables:ruleset: what iptables-restore / nft -f accept) to
    standard output, byte for byte. A secret file (a private key, WireGuard's tree, htpasswd,
    [diff] secret_paths) is withheld (exit 28) unless --secrets."""
    opening = context.opening()  # the key is derived while the modules load
    from drtool.dump import snapshot_opened
    from drtool.redact import Redactor, check_may_print

    manifest = load_snapshot(context, opening, snapshot, None)
    with snapshot_opened(opening.unlocked(), manifest) as opened:
        kind, content = opened.held(path)
    redactor = Redactor.configured(context.settings.secret_keys, context.settings.secret_paths)
    if any(c.secret_files for c in all_collectors(context) if c.kind == kind):
        redactor = redactor.whole()
    check_may_print(redactor, path.lstrip("/"), content, secrets)
    write_content(content)


def write_content(content: bytes) -> None:
    """The one place dump's bytes leave drtool."""
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()
