"""The CLI parses its arguments before it loads the library: `drtool --help`, a usage error and
`drtool snapshots` of a local repository never import what they do not use (boto3, tarfile,
the collectors, rich). Which modules a command loaded is the oracle, never how long it took."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def loaded_modules(arguments: list[str], env: dict[str, str]) -> tuple[set[str], int]:
    """The modules ``drtool ARGUMENTS`` imported, and its exit status."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *arguments],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    lines = completed.stderr.splitlines()
    modules = next(line for line in lines if line.startswith("MODULES ")).split()[1:]
    code = next(line for line in lines if line.startswith("EXIT ")).split()[1]
    return set(modules), int(code)


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if any(m == name or m.startswith(name + ".") for m in modules)]


@pytest.mark.parametrize("arguments", [["--help"], ["restore", "--help"], ["nonsense"], []])
def test_parsing_loads_no_library(arguments: list[str]) -> None:
    modules, code = loaded_modules(arguments, {})
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
    modules, code = loaded_modules(["snapshots"], env)
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
        modules, code = loaded_modules(arguments, env)
        assert code == 0
        assert loaded(modules, unwanted) == []
        assert loaded(modules, ("drtool.collectors.nginx",)) == ["drtool.collectors.nginx"]
        if arguments[0] == "restore":
            assert loaded(modules, ("drtool.backup", "drtool.blob_backup")) == []
