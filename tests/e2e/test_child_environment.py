"""No child drtool runs sees the passphrase or cloud credentials (issue 10): a shim for each
tool, first on PATH, records the environment it was given and runs the real tool."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import Cli

RECORDER = """\
#!{python} -I
import json, os, sys
record = {{"tool": os.path.basename(sys.argv[0]), "env": dict(os.environ)}}
with open({records!r}, "a") as handle:
    handle.write(json.dumps(record) + "\\n")
directory = os.path.dirname(os.path.abspath(sys.argv[0]))
for entry in os.environ["PATH"].split(":"):
    candidate = os.path.join(entry, os.path.basename(sys.argv[0]))
    if entry != directory and os.access(candidate, os.X_OK):
        os.execv(candidate, [candidate, *sys.argv[1:]])
sys.exit("no real tool")
"""
SECRETS = {
    "DRTOOL_PASSWORD": "correct horse battery staple",
    "AWS_SECRET_ACCESS_KEY": "not-for-children",
    "AWS_ACCESS_KEY_ID": "AKIANOTFORCHILDREN",
}


def _recording_path(directory: Path, records: Path, tools: tuple[str, ...]) -> str:
    directory.mkdir()
    for tool in tools:
        shim = directory / tool
        shim.write_text(RECORDER.format(python=sys.executable, records=str(records)))
        shim.chmod(0o755)
    return str(directory)


def test_no_child_sees_the_passphrase_or_cloud_credentials(
    cli: Cli, tmp_path: Path, netns: str
) -> None:
    records = tmp_path / "records.jsonl"
    shims = _recording_path(tmp_path / "shims", records, ("nginx", "wg"))
    del cli.environment["DRTOOL_PASSWORD_FILE"]
    cli.environment.update(SECRETS, PATH=f"{shims}:{cli.environment['PATH']}")
    cli("init")
    cli("--netns", netns, "backup")
    cli("--netns", netns, "restore", "latest", "--only", "wireguard,files", "--yes")
    seen = [json.loads(line) for line in records.read_text().splitlines()]
    tools = {record["tool"] for record in seen}
    assert {"nginx", "wg"} <= tools, tools
    for record in seen:
        leaked = sorted(name for name in record["env"] if name in SECRETS or "DRTOOL" in name)
        assert not leaked, f"{record['tool']} saw {leaked}"
        assert "/usr/sbin" in record["env"]["PATH"].split(":")
        assert record["env"]["LC_ALL"] == "C.UTF-8"
