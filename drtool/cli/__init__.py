"""The command line: a thin click layer over the library (see drtool.cli.app)."""

from drtool.cli import diff, drill, maintenance, restore, snapshots  # noqa: F401 - registers commands
from drtool.cli.app import cli, main

__all__ = ["cli", "main"]
