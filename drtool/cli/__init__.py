"""The command line: a thin click layer over the library (see drtool.cli.app). A command's
module is imported when that command runs (drtool.cli.commands)."""

from drtool.cli.app import cli, main

__all__ = ["cli", "main"]
