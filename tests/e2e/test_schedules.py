"""Every drtool command line in schedules/ (crontab, systemd units, Kubernetes CronJob) runs as
written, against the sample host; the CronJob's inside a network namespace, as a pod with host
networking sees the node's firewall."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.netns import run_in

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"


def scheduled_commands() -> list[list[str]]:
    """The drtool invocations of the crontab and the systemd units, split as a shell would."""
    commands = []
    for line in (SCHEDULES / "crontab").read_text().splitlines():
        if line and not line.startswith("#") and "drtool" in line:
            commands += [
                part.split(">")[0].split()
                for part in line.split("&&")
                if part.split()[:1] == ["drtool"]
            ]
    for unit in SCHEDULES.glob("*.service"):
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                commands.append(line.removeprefix("ExecStart=").split())
    return commands


def cronjob_command() -> list[str]:
    text = (SCHEDULES / "kubernetes-cronjob.yaml").read_text()
    return json.loads(re.search(r"command: (\[.*\])", text).group(1))


def test_every_schedule_runs_a_drtool_command() -> None:
    commands = scheduled_commands()
    assert {command[1] for command in commands} == {"backup", "forget", "drill", "diff", "watch"}
    assert cronjob_command()[0] == "drtool"


# watch runs until stopped: tests/e2e/test_watch.py runs it, end to end.
@pytest.mark.parametrize(
    "command", [c for c in scheduled_commands() if c[1] != "watch"], ids=" ".join
)
def test_a_scheduled_command_runs_as_written(cli: Cli, tmp_path: Path, command: list[str]) -> None:
    cli("init")
    cli("backup")
    arguments = [
        str(tmp_path / "drill.prom") if argument.endswith(".prom") else argument
        for argument in command[1:]
    ]
    # The sample host's nginx config names a certificate the backup lacks: a drill says so (27).
    completed = cli(*arguments, expect=27 if command[1] == "drill" else 0, one_line=False)
    if command[1] == "drill":
        assert "toolboxai.pem" in completed.stderr
        assert "drtool_drill_success" in (tmp_path / "drill.prom").read_text()


def test_the_cronjob_backs_up_the_firewall_it_sees_through_host_networking(
    cli: Cli, netns: str
) -> None:
    """--root is not /, but with --host-network the firewall drtool sees is the host's."""
    cli("init")
    run_in(netns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    arguments = [
        cli.environment["DRTOOL_ROOT"] if argument == "/host" else argument
        for argument in cronjob_command()[1:]
    ]
    subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "drtool", *arguments],
        env=cli.environment,
        check=True,
        capture_output=True,
    )
    shown = json.loads(cli("show", "latest", "--json").stdout)
    (firewall,) = [item for item in shown["artifacts"] if item["kind"] == "iptables"]
    assert firewall["details"]["v4"]["filter"]["rules"] == 1
