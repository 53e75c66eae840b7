"""The CLI parses its arguments before it loads the library: `drtool --help`, a usage error and
`drtool snapshots` of a local repository never import what they do not use (boto3, tarfile,
the collectors, rich), and a command's module is imported only when that command runs. Which
modules a command loaded is the oracle, never how long it took."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import click
import pytest

import drtool.cli

# Heavy, and needed by none of the commands below (a local repository, stderr not a terminal).
NEVER = (
    *("boto3", "botocore", "docker", "rich", "tarfile", "urllib.request", "drtool.collectors"),
    *("subprocess", "drtool.runner", "tempfile"),  # no command run, nothing written
)
# Needed by a command that opens the repository, never by one that only parses its arguments.
REPOSITORY = ("cryptography", "zstandard", "drtool.repository")

_PROBE = """
import runpy, sys
sys.argv = ["drtool", *sys.argv[1:]]
try:
    runpy.run_module("drtool", run_name="__main__")
except SystemExit as ending:
    code = ending.code
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + f"\\nEXIT {code}\\n")
"""


class Probe(NamedTuple):
    modules: set[str]
    code: int
    stdout: str
    stderr: str


def loaded_modules(arguments: list[str], env: dict[str, str]) -> Probe:
    """The modules ``drtool ARGUMENTS`` imported, its exit status, and what it printed."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *arguments],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    said, _, probed = completed.stderr.rpartition("\nMODULES ")
    modules, _, code = probed.partition("\nEXIT ")
    return Probe(set(modules.split()), int(code), completed.stdout, said)


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if any(m == name or m.startswith(name + ".") for m in modules)]


@pytest.mark.parametrize("arguments", [["--help"], ["restore", "--help"], ["nonsense"], []])
def test_parsing_loads_no_library(arguments: list[str]) -> None:
    modules, code, _, _ = loaded_modules(arguments, {})
    assert code in (0, 2)
    assert loaded(modules, NEVER + REPOSITORY) == []


def test_snapshots_of_a_local_repository_loads_what_it_uses_only(tmp_path: Path) -> None:
    env = {"DRTOOL_REPO": str(tmp_path / "repo"), "DRTOOL_PASSWORD": "lazy imports"}
    init = subprocess.run(
        [sys.executable, "-m", "drtool", "init"],
        env={**os.environ, **env},
        capture_output=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    modules, code, _, _ = loaded_modules(["snapshots"], env)
    assert code == 0
    assert loaded(modules, NEVER) == []
    assert loaded(modules, REPOSITORY) == list(REPOSITORY)  # the probe sees real imports


def test_backup_and_restore_load_no_notification_diff_or_strptime(tmp_path: Path) -> None:
    """A backup and a restore --target load neither urllib.request (a health probe's),
    difflib (a diff's) nor _strptime (the repository's own times are read field by field); the
    restore loads no backup code (only a restore onto the host saves its current state)."""
    root, config = tmp_path / "root", tmp_path / "drtool.toml"
    (root / "etc/nginx").mkdir(parents=True)
    (root / "etc/nginx/nginx.conf").write_text("events {}\n")
    config.write_text('[backup]\nkinds = ["nginx", "iptables"]\n')
    env = {
        "DRTOOL_REPO": str(tmp_path / "repo"),
        "DRTOOL_PASSWORD": "lazy imports",
        "DRTOOL_ROOT": str(root),
        "DRTOOL_CONFIG": str(config),
        "DRTOOL_HOST": "lazy",
    }
    for command in (["init"], ["backup"]):
        done = subprocess.run(
            [sys.executable, "-m", "drtool", *command],
            env={**os.environ, **env},
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    unwanted = ("urllib.request", "difflib", "_strptime")
    for arguments in (["backup"], ["restore", "latest", "--target", str(tmp_path / "look")]):
        modules, code, _, _ = loaded_modules(arguments, env)
        assert code == 0
        assert loaded(modules, unwanted) == []
        assert loaded(modules, ("drtool.collectors.nginx",)) == ["drtool.collectors.nginx"]
        if arguments[0] == "restore":
            assert loaded(modules, ("drtool.backup", "drtool.blob_backup")) == []


def defined_commands() -> dict[str, tuple[str, str]]:
    """Every top-level command drtool/cli/ defines, found by importing each of its modules
    (not from drtool's own table): name -> (its module, its help text on one line)."""
    found: dict[int, click.Command] = {}
    for module_info in pkgutil.iter_modules(drtool.cli.__path__):
        module = importlib.import_module(f"drtool.cli.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, click.Command) and module_of(value) == module.__name__:
                found[id(value)] = value
    subcommands = {
        id(sub)
        for group in found.values()
        if isinstance(group, click.Group) and group is not drtool.cli.cli  # holds those run
        for sub in group.commands.values()
    }
    return {
        command.name or "": (module_of(command), " ".join((command.help or "").split()))
        for command in found.values()
        if id(command) not in subcommands and command is not drtool.cli.cli
    }


def module_of(command: click.Command) -> str:
    return str(getattr(command.callback, "__module__", ""))


def listed_commands(help_text: str) -> dict[str, str]:
    """The Commands section of ``drtool --help``: name -> its summary, joined onto one line."""
    listed: dict[str, str] = {}
    section = help_text.split("\nCommands:\n", 1)[1]
    for line in section.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            name, _, summary = line.strip().partition(" ")
            listed[name] = summary.strip()
        elif line.strip():
            listed[name] += " " + line.strip()
    return listed


def test_help_lists_every_command_and_imports_none_of_their_modules() -> None:
    defined = defined_commands()
    assert {"backup", "restore", "snapshots", "key", "ls"} <= set(defined)
    modules, code, stdout, _ = loaded_modules(["--help"], {"COLUMNS": "200"})
    assert code == 0
    listed = listed_commands(stdout)
    assert set(listed) == set(defined)
    for name, summary in listed.items():
        own_help = defined[name][1]
        assert own_help.startswith(summary.removesuffix("…")), f"{name}: {summary!r}"
    command_modules = {module for module, _ in defined.values()}
    assert sorted(modules & command_modules) == []


def test_a_command_imports_its_own_module_only() -> None:
    modules, code, stdout, _ = loaded_modules(["status", "--help"], {})
    assert code == 0 and stdout.startswith("Usage: drtool status")
    command_modules = {module for module, _ in defined_commands().values()}
    assert sorted(modules & command_modules) == ["drtool.cli.status"]


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("nonsense", "No such command 'nonsense'."),
        ("snapshot", "No such command 'snapshot'. Did you mean 'snapshots'?"),
    ],
)
def test_an_unknown_command_is_clicks_one_line_usage_error(typed: str, said: str) -> None:
    _, code, stdout, stderr = loaded_modules([typed, "--json"], {})
    assert (code, stdout) == (2, "")
    assert stderr == f"drtool: error: {said} (see drtool --help)\n"
