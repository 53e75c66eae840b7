"""--log-format json (every stderr line a JSON object) and progress bars: drawn by rich on a
terminal (a real pseudo-terminal here), never off one, never under --json."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from tests.conftest import Cli


def test_json_logs_are_one_object_a_line(cli: Cli) -> None:
    cli("init")
    logged = cli("backup", "-v", "--log-format", "json").stderr.splitlines()
    documents = [json.loads(line) for line in logged]
    assert documents and {document["level"] for document in documents} == {"info"}
    assert all(document["time"].endswith("Z") and document["message"] for document in documents)
    failed = cli("--log-format", "json", "show", "no-such-snapshot", expect=13).stderr
    error = json.loads(failed)
    assert error["level"] == "error" and "no-such-snapshot" in error["message"]


def on_a_terminal(cli: Cli, *arguments: str) -> tuple[int, str]:
    """Run drtool with stderr on a pseudo-terminal; return its exit code and what it drew."""
    leader, follower = pty.openpty()
    try:
        completed = subprocess.Popen(
            [sys.executable, "-m", "drtool", *arguments],
            env={**cli.environment, "COLUMNS": "120", "TERM": "xterm"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: drtool exited
                break
            if not chunk:
                break
            drawn += chunk
        return completed.wait(timeout=120), drawn.decode(errors="replace")
    finally:
        os.close(leader)


def test_progress_bars_show_on_a_terminal_only(cli: Cli) -> None:
    cli("init")
    cli("backup")
    code, drawn = on_a_terminal(cli, "check", "--read-data")
    assert code == 0 and "drtool: verifying objects" in drawn and "━" in drawn
    code, drawn = on_a_terminal(cli, "check", "--read-data", "--json")
    assert code == 0 and "━" not in drawn and drawn == ""
    code, drawn = on_a_terminal(cli, "--log-format", "json", "check", "--read-data")
    assert code == 0 and drawn == ""
    assert cli("check", "--read-data").stderr == ""  # off a terminal: nothing
