"""Review of issue 10: malformed manifests (sealed with the repository's key, as any host can)
must be one-line errors (exit 14), never internal errors."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize("command", list(COMMANDS))
def test_metadata_nested_deep_within_json_is_a_one_line_error(cli: Cli, command: str) -> None:
    """Nested less deep than json.loads refuses, still deeper than show's walks can go."""
    cli("init")
    cli("backup")
    repository = open_repository(cli)
    (ref,) = repository.snapshot_refs()
    with repository.store.open(manifest_name(ref.host, ref.id)) as stream:
        payload = object_format.unseal(repository.key, Binding.manifest(ref.host, ref.id), stream)
    snapshot_id = new_snapshot_id(datetime.now(UTC))
    document = json.loads(payload)
    document["id"] = snapshot_id
    deep = "[" * 900 + "]" * 900
    text = json.dumps(document).replace('"metadata": {', f'"metadata": {{"deep": {deep}, ', 1)
    assert deep in text
    binding = Binding.manifest(ref.host, snapshot_id)
    sealed = object_format.seal(repository.key, binding, text.encode())
    repository.store.put(manifest_name(ref.host, snapshot_id), [sealed])
    arguments = [part.format(id=snapshot_id) for part in COMMANDS[command]]
    shown = cli.run(*arguments)
    assert "Traceback" not in shown.stderr
    assert shown.returncode == 14, shown.stderr
    assert len(shown.stderr.strip().splitlines()) == 1, shown.stderr
