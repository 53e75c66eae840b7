"""The commands' table, and the group that imports a command's module only when it runs.

`drtool --help` lists every command from the table's one-line summaries; `drtool backup` imports
drtool.cli.snapshots, and nothing of the other commands (bench/startup.py measures the cost of
each import). Each summary opens the command's own help (a test holds them to it); a command
added to drtool/cli/ gets a row here, or `drtool --help` does not list it (a test says so).
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import click


class Entry(NamedTuple):
    module: str
    attribute: str
    summary: str


COMMANDS = {
    "backup": Entry(
        "snapshots", "backup", "Back the host's configuration up; print the new snapshot id."
    ),
    "check": Entry(
        "maintenance",
        "check",
        "Verify the repository: manifests decrypt, referenced objects exist (and match)…",
    ),
    "confirm": Entry(
        "restore", "confirm", "Keep the restored firewall: stop its dead-man's switch…"
    ),
    "diff": Entry(
        "diff",
        "diff_command",
        "What changes from snapshot OLD to snapshot NEW, or to the live host without NEW.",
    ),
    "drill": Entry("drill", "drill", "Prove a snapshot restores (default latest)…"),
    "dump": Entry(
        "contents",
        "dump_command",
        "Write one file of SNAPSHOT (PATH: /etc/nginx/nginx.conf) or one command output…",
    ),
    "forget": Entry(
        "maintenance", "forget", "Remove the snapshots a retention policy does not keep…"
    ),
    "init": Entry("snapshots", "init", "Create the repository and its key."),
    "key": Entry(
        "keys", "key", "List, add, change, remove and rotate the repository's keys (format 2)."
    ),
    "ls": Entry(
        "contents",
        "ls_command",
        "List the files and command outputs SNAPSHOT holds, or those under PATH…",
    ),
    "prune": Entry(
        "maintenance",
        "prune",
        "Delete objects no snapshot references, and leftovers of interrupted writes.",
    ),
    "restore": Entry(
        "restore",
        "restore",
        "Restore a snapshot (an id, a unique prefix, latest; default latest) onto the host.",
    ),
    "show": Entry(
        "snapshots",
        "show",
        "Show what a snapshot holds (SNAPSHOT: an id, a unique prefix, or latest).",
    ),
    "snapshots": Entry(
        "snapshots",
        "snapshots",
        "List snapshots: id, host, UTC time, sizes, kinds, tags (every host unless --host).",
    ),
    "status": Entry(
        "status", "status", "Every host's newest snapshot and its age, last drill, the last check…"
    ),
    "watch": Entry("watch", "watch_command", "Back up whenever the configuration changes…"),
}


class LazyGroup(click.Group):
    """A click group whose commands are the table's rows, each imported on first use."""

    def __init__(self, *args: Any, table: dict[str, Entry], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.table)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.table.get(cmd_name)
        if entry is None:
            return None
        if cmd_name not in self.commands:
            module = importlib.import_module(f"drtool.cli.{entry.module}")
            self.add_command(getattr(module, entry.attribute), cmd_name)
        return self.commands[cmd_name]

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click's, its "Did you mean" drawn from every command, not the ones loaded."""
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as error:
            raise click.exceptions.NoSuchCommand(
                error.command_name, possibilities=self.table, ctx=ctx
            ) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their summaries, from the table: no command's module imported."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, self.table[name].summary) for name in sorted(self.table)])
