"""Every command drtool prints as advice runs as printed, and does what the advice says; and
``restore --abandon`` drops an unfinished restore once the operator repaired the host by hand."""

from __future__ import annotations

import json
import os
import pty
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, owned_listing
from tests.support.advice import advised, follow
from tests.support.netns import run_in

SNAPSHOT_RULES = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
LIVE_RULES = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n"


def host_root(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_ROOT"])


def input_rules(netns: str) -> list[str]:
    return [line for line in run_in(netns, "iptables-save").splitlines() if "INPUT" in line]


@pytest.fixture
def failed_rollback(cli: Cli, netns: str, tmp_path: Path) -> Iterator[tuple[Cli, str, dict, Path]]:
    """A firewall restore whose connectivity probe fails, before and after its rollback (the
    probe needs a file the test holds back): exit 24, the host's rules as they were (the
    rollback applied them; only its check failed). Yields the report and the probe's file."""
    probe_file = tmp_path / "probe-passes"
    config = tmp_path / "drtool.toml"
    config.write_text(f'[services.iptables]\nhealth_command = "test -e {probe_file}"\n')
    cli.environment.update(DRTOOL_NETNS=netns, DRTOOL_CONFIG=str(config))
    run_in(netns, "iptables-restore", input_text=SNAPSHOT_RULES)
    cli("init")
    cli("backup")
    run_in(netns, "iptables-restore", input_text=LIVE_RULES)
    completed = cli("restore", "--only", "iptables", "--yes", "--json", expect=24, one_line=False)
    report = json.loads(completed.stdout)
    assert report["outcome"] == "rollback incomplete"
    assert advised(completed.stderr) == advised(report["operator_actions"][0])
    yield cli, netns, report, probe_file


def test_after_a_failed_rollback_the_advised_rollback_finishes_it(
    failed_rollback: tuple[Cli, str, dict, Path],
) -> None:
    cli, netns, _, probe_file = failed_rollback
    before = input_rules(netns)
    refused = cli("restore", "--yes", expect=25).stderr
    probe_file.touch()  # the operator fixes what the rollback reported
    follow(cli, refused, "--rollback")
    assert input_rules(netns) == before and "--dport 80" in "".join(before)
    cli("restore", "--only", "iptables", "--yes")  # nothing unfinished is left
    assert "--dport 22" in "".join(input_rules(netns))


def test_after_a_failed_rollback_the_advised_pre_restore_snapshot_puts_the_state_back(
    failed_rollback: tuple[Cli, str, dict, Path],
) -> None:
    cli, netns, report, probe_file = failed_rollback
    pre_restore = report["pre_restore_snapshot"]
    actions = "; ".join(report["operator_actions"])
    assert f"`drtool restore {pre_restore} --yes`" in actions
    assert f"`drtool restore {pre_restore} --yes`" in cli("restore", "--yes", expect=25).stderr
    probe_file.touch()
    run_in(netns, "iptables-restore", input_text=SNAPSHOT_RULES)  # the host moved on meanwhile
    follow(cli, actions, pre_restore)
    assert "--dport 80" in "".join(input_rules(netns))
    cli("restore", "--only", "iptables", "--yes")  # that restore superseded the failed one
    assert "--dport 22" in "".join(input_rules(netns))


def test_after_a_failed_rollback_abandon_drops_the_journal_once_repaired_by_hand(
    failed_rollback: tuple[Cli, str, dict, Path],
) -> None:
    cli, netns, report, probe_file = failed_rollback
    # Off a terminal without --yes: refused, and the restore stays unfinished.
    assert "abandoning a restore needs --yes" in cli("restore", "--abandon", expect=16).stderr
    refused = cli("restore", "--yes", expect=25).stderr
    # The operator repairs the host by hand, then abandons the restore as advised.
    probe_file.touch()
    run_in(netns, "iptables-restore", input_text=LIVE_RULES)
    said = follow(cli, "; ".join(report["operator_actions"]), "--abandon").stdout
    assert "abandoned restore" in said and report["pre_restore_snapshot"] in said
    assert advised(refused)[-1] == "drtool restore --abandon --yes"
    assert "--dport 80" in "".join(input_rules(netns)), "abandon changes nothing on the host"
    journal = json.loads((host_root(cli) / "var/lib/drtool/restore/journal.json").read_text())
    assert journal["phase"] == "abandoned"
    assert not (host_root(cli) / "var/lib/drtool/restore/rollback").exists()
    assert "no unfinished restore" in cli("restore", "--abandon", "--yes", expect=2).stderr
    cli("restore", "--only", "iptables", "--yes")
    assert "--dport 22" in "".join(input_rules(netns))


@pytest.mark.usefixtures("backed_up")
def test_abandon_after_a_kill_asks_on_a_terminal(cli: Cli) -> None:
    """A restore killed half-way; the operator puts the files back by hand and abandons it,
    answering the question on a terminal."""
    root = host_root(cli)
    (root / "etc/redis/redis.conf").write_text("protected-mode no\n")
    cli.restore_killed_at("applied files")
    advice = cli("restore", "--yes", expect=25).stderr
    assert "`drtool restore --abandon --yes`" in advice
    repaired = owned_listing(root)
    pid, terminal = pty.fork()
    if pid == 0:  # the child: drtool on a terminal
        os.execve(
            sys.executable,
            [sys.executable, "-m", "drtool", "restore", "--abandon"],
            cli.environment,
        )
    output = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in output:
        assert time.monotonic() < deadline, output
        output += os.read(terminal, 1024)
    os.write(terminal, b"y\n")
    while True:
        try:
            chunk = os.read(terminal, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert b"abandoned restore" in output
    assert owned_listing(root) == repaired
    cli("restore", "--yes")


def test_the_advised_init_makes_the_repository(cli: Cli) -> None:
    missing = cli("snapshots", expect=10).stderr
    follow(cli, missing, "init")
    assert cli("snapshots").stdout.strip() == "no snapshots"


def test_abandon_takes_no_snapshot(cli: Cli) -> None:
    assert "--abandon takes no" in cli("restore", "latest", "--abandon", "--yes", expect=2).stderr
