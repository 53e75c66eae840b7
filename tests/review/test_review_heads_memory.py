"""Third review of the fleet view's memory (drtool/fleet_heads.py, SeenHeads in drtool/seen.py):
what someone who can write the storage, or who holds one host's writer credential, can do to
`drtool status`. Oracles: the memory file's own bytes, exit codes, the lines printed."""

from __future__ import annotations

import json
from pathlib import Path

from drtool import format as object_format
from drtool.format import Binding
from drtool.keyring.credential import read_credential
from drtool.keyring.signatures import HEAD, sign_manifest
from tests.conftest import Cli
from tests.e2e.test_key_commands import add_writer, repo
from tests.e2e.test_status_memory import attention, memory_file


def plant_head(cli: Cli, keys: object, host: str, head: dict[str, object]) -> None:
    """``head`` signed and sealed with ``keys`` (a writer credential's, or an operator's) for
    ``host``, written where its host's head is."""
    signed = sign_manifest(keys, host, head, HEAD)  # type: ignore[arg-type]
    sealed = object_format.seal(keys, Binding.host_head(host), json.dumps(signed).encode())  # type: ignore[arg-type]
    (repo(cli) / "heads").mkdir(exist_ok=True)
    (repo(cli) / "heads" / host).write_bytes(sealed)


def test_a_head_dated_before_the_year_1000_does_not_damage_the_memory(
    cli: Cli, tmp_path: Path
) -> None:
    """A writer of web-1 signs a head dated 0999 (a valid time): `status` remembered it as
    "999-…", which the next `status` refused as a damaged memory (exit 55) until the operator
    moved the file aside, losing what it remembered of every host."""
    cli("init")
    keys = read_credential(add_writer(cli, tmp_path)).keys
    plant_head(cli, keys, "web-1", {"host": "web-1", "updated": "0999-01-01T00:00:00.000000Z"})
    assert "web-1 (never backed up)" in attention(cli)
    stored = json.loads(memory_file(cli).read_text())["hosts"]
    assert stored == {"web-1": "0999-01-01T00:00:00.000000Z"}
    assert "web-1 (never backed up)" in attention(cli)
