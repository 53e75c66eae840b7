"""The command line: a thin click layer over the library (see drtool.cli.app)."""

from drtool.cli import (  # noqa: F401 - registers commands
    contents,
    diff,
    drill,
    keys,
    maintenance,
    restore,
    snapshots,
    status,
    watch,
)
from drtool.cli.app import cli, main

__all__ = ["cli", "main"]
