"""Failure injection at the process boundary: a directory of shims put first in drtool's PATH.

A shim stands in for one real tool (nginx, iptables-restore, wg, fail2ban-client…). It runs the
real tool, unless a rule the test set matches its command line, in which case it prints the
rule's message on standard error and exits 1, as the tool itself would when it fails. A rule
can let the first matching calls through and strike a given number of times, so that the
failure lands on a chosen step (the rollback's call rather than the apply's). Every call through
a shim is recorded, so a test can see exactly what drtool ran (a namespace it made…). drtool runs
every external command through PATH, directly, through ``sh -c`` or ``ip netns exec``, so nothing
in drtool knows the shims are there.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

SHIM = """\
#!{python} -I
import fcntl, json, os, re, sys
directory = {directory!r}
tool = os.path.basename(sys.argv[0])
with open(os.path.join(directory, "rules.json"), "r+") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    rules = json.load(handle)
    line = " ".join(sys.argv[1:])
    failing = None
    for rule in rules:
        if rule["tool"] == tool and re.search(rule["matching"], line):
            rule["seen"] += 1
            struck = rule["skip"] < rule["seen"] <= rule["skip"] + rule["times"]
            if struck and failing is None:
                failing = rule
    handle.seek(0)
    handle.truncate()
    json.dump(rules, handle)
    with open(os.path.join(directory, "calls.jsonl"), "a") as calls:
        calls.write(json.dumps([tool, *sys.argv[1:]]) + "\\n")
if failing is not None:
    sys.stderr.write(failing["message"] + "\\n")
    sys.exit(1)
path = [entry for entry in os.environ["PATH"].split(":") if entry != directory]
for entry in path:
    candidate = os.path.join(entry, tool)
    if os.access(candidate, os.X_OK):
        os.execv(candidate, [candidate, *sys.argv[1:]])
sys.exit("shim: no real " + tool + " in PATH")
"""


@dataclass
class Faults:
    directory: Path

    @property
    def _rules(self) -> Path:
        return self.directory / "rules.json"

    def fail(
        self, tool: str, matching: str = "", skip: int = 0, times: int = 1, message: str = ""
    ) -> None:
        """Make ``tool`` fail ``times`` times when its arguments match the regular expression
        ``matching``, after ``skip`` matching calls have run for real."""
        self.record(tool)
        rules = json.loads(self._rules.read_text())
        rules.append(
            {
                "tool": tool,
                "matching": matching,
                "skip": skip,
                "times": times,
                "seen": 0,
                "message": message or f"{tool}: failure injected by the test",
            }
        )
        self._rules.write_text(json.dumps(rules))

    def record(self, tool: str) -> None:
        """Put a shim for ``tool`` in place: every call is recorded (:meth:`calls`)."""
        shim = self.directory / tool
        if not shim.exists():
            shim.write_text(SHIM.format(python=sys.executable, directory=str(self.directory)))
            shim.chmod(0o755)

    def calls(self, tool: str) -> list[list[str]]:
        """The arguments of every call of ``tool`` through its shim, in order."""
        log = self.directory / "calls.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [call[1:] for call in map(json.loads, lines) if call[0] == tool]

    def clear(self) -> None:
        self._rules.write_text("[]")

    def path(self, path: str | None = None) -> str:
        """A PATH with the shims first."""
        return f"{self.directory}:{path or os.environ['PATH']}"


def shims(directory: Path) -> Faults:
    """An empty shim directory at ``directory`` (made here)."""
    directory.mkdir()
    injected = Faults(directory)
    injected.clear()
    return injected


def drill_namespaces_left(recorder: Faults) -> list[str]:
    """The network namespaces drtool made through ``recorder``'s ``ip`` shim (a drill's, never
    the machine's whole list: other test runs make drill namespaces of their own at the same
    time) that still exist."""
    made = [call[2] for call in recorder.calls("ip") if call[:2] == ["netns", "add"]]
    assert made and all(name.startswith("drtool-drill-") for name in made)
    return [name for name in made if Path("/run/netns", name).exists()]
