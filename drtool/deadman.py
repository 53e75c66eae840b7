"""The dead-man's switch: a detached watchdog that outlives drtool and the SSH session, and
puts the previous state of a kind that can cut the operator off (the firewall) back unless the
restore is confirmed in time.

Before such a kind is applied, the collector names what its rollback point needs
(``Collector.switch_state``); that is written next to the journal and a watchdog is started in
a session of its own (``python -m drtool.deadman``). It does nothing if, before the timeout, the
connectivity probe passed or ``drtool confirm`` ran (a ``confirmed`` file), or the engine rolled
back itself (``disarmed``); otherwise it asks the kind's collector to put the state back
(``Collector.put_back``) and leaves a ``fired`` file for the operator to find.
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

from drtool.capture import load_staged
from drtool.collectors.base import Collector
from drtool.fsutil import open_private
from drtool.host import Host
from drtool.journal import JOURNAL_DIRECTORY, last_report
from drtool.kinds import kind as registered_kind
from drtool.runner import Runner, child_environment

SWITCH_PREFIX = "deadman-"
_STATE = "state"


def switch_directory(host: Host, restore_id: str, kind: str) -> Path:
    return host.path(JOURNAL_DIRECTORY) / f"{SWITCH_PREFIX}{restore_id}-{kind}"


def arm(
    host: Host, directory: Path, rollback_directory: Path, collector: Collector, timeout: float
) -> None:
    """Save what puts the state captured in ``rollback_directory`` back; start the watchdog."""
    captured = load_staged(rollback_directory, collector.kind)
    (directory / _STATE).mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, content in collector.switch_state(captured).items():
        with open_private(directory / _STATE / name) as output:
            output.write(content)
    deadline = time.time() + timeout
    settings = {"kind": collector.kind, "netns": host.runner.netns, "deadline": deadline}
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
    if not report:
        return None
    prefix = f"{SWITCH_PREFIX}{report['restore_id']}-"
    times = [
        json.loads(fired.read_text())["time"]
        for fired in host.path(JOURNAL_DIRECTORY).glob(f"{prefix}*/fired")
    ]
    return datetime.fromtimestamp(max(times), UTC) if times else None


def watch(directory: Path) -> None:
    """The watchdog: wait for a confirmation until the deadline, else put the state back."""
    settings = json.loads((directory / "switch.json").read_text())
    while time.time() < settings["deadline"]:
        if (directory / "confirmed").exists() or (directory / "disarmed").exists():
            return
        time.sleep(0.2)
    state = {path.name: path.read_bytes() for path in sorted((directory / _STATE).iterdir())}
    collector = registered_kind(settings["kind"]).collector_class()
    problems = collector.put_back(Runner(netns=settings["netns"]), state)
    (directory / "fired").write_text(json.dumps({"time": time.time(), "problems": problems}) + "\n")


if __name__ == "__main__":
    watch(Path(sys.argv[1]))
