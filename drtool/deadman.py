"""The firewall's dead-man's switch: a detached watchdog that outlives drtool and the SSH
session, and puts the previous rules back unless the restore is confirmed in time.

Before the firewall is applied, the rules captured from the live host are written next to the
journal and a watchdog is started in a session of its own (``python -m drtool.deadman``). It
does nothing if, before the timeout, the connectivity probe passed or ``drtool confirm`` ran
(a ``confirmed`` file), or the engine rolled back itself (``disarmed``); otherwise it restores
the previous rules, table by table, and leaves a ``fired`` file for the operator to find.
``iptables-apply`` does the same, but only interactively, so it cannot run from cron.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from drtool import iptables_rules as rules
from drtool.capture import load_staged
from drtool.fsutil import open_private
from drtool.host import Host
from drtool.journal import JOURNAL_DIRECTORY, last_report
from drtool.runner import CommandFailed, Runner, child_environment

SWITCH_PREFIX = "deadman-"


def switch_directory(host: Host, restore_id: str) -> Path:
    return host.path(JOURNAL_DIRECTORY) / f"{SWITCH_PREFIX}{restore_id}"


def arm(host: Host, directory: Path, rollback_directory: Path, timeout: float) -> None:
    """Save the live rules captured in ``rollback_directory`` and start the watchdog."""
    captured = load_staged(rollback_directory, "iptables")
    directory.mkdir(mode=0o700, exist_ok=True)
    for name, text in captured.outputs().items():
        with open_private(directory / name) as output:
            output.write(text)
    settings = {
        "backend": captured.record.metadata.get("backend", "nft"),
        "netns": host.runner.netns,
        "deadline": time.time() + timeout,
    }
    with open_private(directory / "switch.json") as output:
        output.write(json.dumps(settings).encode())
    # setsid -f: a session of its own, so it is not killed with drtool, its terminal or its
    # SSH session, and not drtool's child, so nothing waits for it.
    subprocess.run(
        ["setsid", "-f", sys.executable, "-m", "drtool.deadman", str(directory)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        # The watchdog needs no passphrase: only where to find drtool itself.
        env=child_environment(
            {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else None
        ),
    )


def confirm(directory: Path) -> None:
    (directory / "confirmed").touch()


def disarm(directory: Path) -> None:
    (directory / "disarmed").touch()


def pending(host: Host) -> list[Path]:
    """The switches still waiting for a confirmation on this host."""
    journal = host.path(JOURNAL_DIRECTORY)
    return sorted(
        directory
        for directory in journal.glob(f"{SWITCH_PREFIX}*")
        if not any((directory / name).exists() for name in ("confirmed", "disarmed", "fired"))
    )


def reverted_at(host: Host) -> datetime | None:
    """When the last restore's switch put the previous rules back (None: it did not)."""
    report = last_report(host)
    fired = switch_directory(host, report["restore_id"]) / "fired" if report else None
    if fired is None or not fired.exists():
        return None
    return datetime.fromtimestamp(json.loads(fired.read_text())["time"], UTC)


def watch(directory: Path) -> None:
    """The watchdog: wait for a confirmation until the deadline, else restore the rules."""
    settings = json.loads((directory / "switch.json").read_text())
    while time.time() < settings["deadline"]:
        if (directory / "confirmed").exists() or (directory / "disarmed").exists():
            return
        time.sleep(0.2)
    runner = Runner(netns=settings["netns"])
    problems = []
    for family, program in (("v4", "iptables"), ("v6", "ip6tables")):
        rules_file = directory / f"{family}.rules"
        if not rules_file.exists():
            continue
        for table in rules.parse(rules_file.read_text()):
            try:
                runner.run(
                    [f"{program}-{settings['backend']}-restore", "-w", "10"],
                    input_bytes=table.render().encode(),
                    in_netns=True,
                )
            except CommandFailed as error:
                problems.append(str(error))
    (directory / "fired").write_text(json.dumps({"time": time.time(), "problems": problems}) + "\n")


if __name__ == "__main__":
    watch(Path(sys.argv[1]))
