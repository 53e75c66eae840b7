"""Review of issue 10: malformed manifests (sealed with the repository's key, as any host can)
must be one-line errors (exit 14), never internal errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from drtool import format as object_format
from drtool.format import Binding
from drtool.repository import manifest_name
from drtool.snapshot import new_snapshot_id
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository

PAYLOADS = {
    "deeply nested": b'{"format": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}
COMMANDS = {"show": ("show", "{id}"), "check": ("check",)}


@pytest.mark.parametrize("case", list(PAYLOADS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_malformed_manifest_is_a_one_line_error(cli: Cli, case: str, command: str) -> None:
    cli("init")
    repository = open_repository(cli)
    snapshot_id = new_snapshot_id(datetime.now(UTC))
    repository.store.put(
        manifest_name("evil", snapshot_id),
        [object_format.seal(repository.key, Binding.manifest("evil", snapshot_id), PAYLOADS[case])],
    )
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "drtool",
            *(part.format(id=snapshot_id) for part in COMMANDS[command]),
        ],
        env=cli.environment,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in shown.stderr
    assert shown.returncode == 14, shown.stderr
    assert len(shown.stderr.strip().splitlines()) == 1, shown.stderr
