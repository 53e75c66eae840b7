"""Every command of every runbook, run as written, in order, against the sample host during an
incident (its files damaged after the backup). Absolute paths become temporary ones, the
runbooks' example date becomes today's, and --resume / --rollback get a restore killed half-way
to finish or undo, as they would in a real incident."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.test_cli import host_root

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
EXAMPLE_DATE = "20250107"
# Exits other than 0, and why: the sample host is a sandbox root, whose firewall is not restored
# (nothing to confirm), and whose nginx config names a certificate the backup lacks (a drill
# says so).
EXPECTED_EXIT = {("drtool", "confirm"): 2, ("drtool", "drill"): 27}
# drtool diff exits 3 when it finds differences: one-component's looks for the change it restores.
FINDS_DIFFERENCES = {"one-component"}


def commands(runbook: Path) -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", runbook.read_text(), re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


def test_the_runbooks_are_there() -> None:
    names = {path.name for path in RUNBOOKS.glob("*.md")}
    assert {"full-host-restore.md", "one-component.md", "dr-drill.md"} <= names
    assert all(commands(RUNBOOKS / name) for name in names)


@pytest.mark.parametrize("runbook", sorted(RUNBOOKS.glob("*.md")), ids=lambda path: path.stem)
def test_every_command_of_the_runbook_runs(cli: Cli, tmp_path: Path, runbook: Path) -> None:
    cli("init")
    cli("backup")
    (host_root(cli) / "etc/nginx/nginx.conf").write_text("events {\n")  # the incident
    # The backup's own UTC day, not the clock's: the test may run across midnight.
    (snapshot,) = json.loads(cli("snapshots", "--json").stdout)
    today = snapshot["time"][:10].replace("-", "")
    for command in commands(runbook):
        assert command[0] == "drtool"
        arguments = [
            today
            if argument == EXAMPLE_DATE
            else str(tmp_path / Path(argument).name)
            if argument.startswith("/")
            else argument
            for argument in command[1:]
        ]
        if {"--resume", "--rollback", "--abandon"} & set(arguments):
            cli.restore_killed_at("applied nginx")
        expect = EXPECTED_EXIT.get(tuple(command[:2]), 0)
        if command[:2] == ["drtool", "diff"] and runbook.stem in FINDS_DIFFERENCES:
            expect = 3
        cli(*arguments, expect=expect, one_line=False)
