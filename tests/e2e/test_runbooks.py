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
    assert {
        "full-host-restore.md",
        "one-component.md",
        "dr-drill.md",
        "lost-laptop-key-rotation.md",
        "compromised-host.md",
    } <= names
    assert all(commands(RUNBOOKS / name) for name in names)


def key_ids(cli: Cli, tmp_path: Path, runbook: Path) -> dict[str, str]:
    """The ids the key runbooks name, made as the incident finds them: a laptop's passphrase
    key (KEY_ID), web-1's writer credential (WRITER_ID)."""
    if runbook.stem == "lost-laptop-key-rotation":
        laptop = Cli({**cli.environment, "DRTOOL_NEW_PASSWORD": "the laptop's own passphrase"})
        laptop("key", "add", "--label", "laptop")
    if runbook.stem == "compromised-host":
        cli("key", "add-writer", "--host", "web-1", "--output", str(tmp_path / "issued.key"))
    ids = {}
    for key in json.loads(cli("key", "list", "--json").stdout):
        if key["label"] == "laptop":
            ids["KEY_ID"] = key["id"]
        if key["kind"] == "writer":
            ids["WRITER_ID"] = key["id"]
    return ids


def substituted(argument: str, ids: dict[str, str], today: str, tmp_path: Path) -> str:
    """A runbook's argument as this incident has it: the ids of its keys, today's date for the
    example date, a temporary path for an absolute one."""
    if argument in ids:
        return ids[argument]
    if argument == EXAMPLE_DATE:
        return today
    if argument.startswith("/"):
        return str(tmp_path / Path(argument).name)
    return argument


@pytest.mark.parametrize("runbook", sorted(RUNBOOKS.glob("*.md")), ids=lambda path: path.stem)
def test_every_command_of_the_runbook_runs(cli: Cli, tmp_path: Path, runbook: Path) -> None:
    cli("init")
    cli("backup")
    (host_root(cli) / "etc/nginx/nginx.conf").write_text("events {\n")  # the incident
    # The backup's own UTC day, not the clock's: the test may run across midnight.
    (snapshot,) = json.loads(cli("snapshots", "--json").stdout)
    today = snapshot["time"][:10].replace("-", "")
    ids = key_ids(cli, tmp_path, runbook)
    for command in commands(runbook):
        assert command[0] == "drtool"
        arguments = [substituted(argument, ids, today, tmp_path) for argument in command[1:]]
        if {"--resume", "--rollback", "--abandon"} & set(arguments):
            cli.restore_killed_at("applied nginx")
        expect = EXPECTED_EXIT.get(tuple(command[:2]), 0)
        if command[:2] == ["drtool", "diff"] and runbook.stem in FINDS_DIFFERENCES:
            expect = 3
        cli(*arguments, expect=expect, one_line=False)
