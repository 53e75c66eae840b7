"""Review of issue 14: `key rotate`, the step the runbooks take after a compromise, seals the
new generation to every key file in keys/ without knowing any passphrase. Anyone who can write
the repository's storage can plant a well-formed key file of their own there."""

from __future__ import annotations

import json
from pathlib import Path

from drtool.keyring.generation import Generation
from drtool.keyring.kek import passphrase_kek
from drtool.keyring.keyfile import new_key_file
from drtool.keys import KdfParameters, new_key_id
from drtool.repository import read_config
from drtool.store.local import LocalStore
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository


def test_key_rotate_gives_nothing_to_a_planted_key_file(cli: Cli) -> None:
    cli("init")
    repo = Path(cli.environment["DRTOOL_REPO"])
    store = LocalStore(repo)
    repository_id = read_config(store).repository_id  # config is clear
    # the thief's key file: its own pair, its own passphrase, a generation of its own
    key_id = new_key_id()
    kdf = KdfParameters(iterations=1, lanes=1, memory_kib=8)
    kek, fields = passphrase_kek(b"the thief", kdf)
    planted = new_key_file(
        repository_id, key_id, "passphrase", "x", kek, {1: Generation.new(1)}, fields
    )
    store.put(f"keys/{key_id}", [planted])
    rotated = cli("key", "rotate")  # after the compromise, as the runbook says
    assert f"key file {key_id} was not made by a reader" in rotated.stderr
    entries = json.loads((repo / "keys" / key_id).read_text())["generations"]
    # before the fix: two entries, the second the real generation 2's secret sealed to the
    # thief's public key (unsealed with the thief's private key, it equalled the keyring's)
    assert len(entries) == 1, "the planted key file was given the new generation"
    cli("key", "rotate", "--keep-writers")  # and again: never
    assert len(json.loads((repo / "keys" / key_id).read_text())["generations"]) == 1
    open_repository(cli)  # the operator's own key file still opens every generation


def test_a_planted_key_file_does_not_let_the_last_real_key_be_removed(cli: Cli) -> None:
    """`key remove` refuses to remove the last key that can read; a planted key file (which
    opens nothing of the keyring) must not count as one, or the operator locks themselves out."""
    cli("init")
    repo = Path(cli.environment["DRTOOL_REPO"])
    (real,) = (path.name for path in (repo / "keys").iterdir())
    store = LocalStore(repo)
    repository_id = read_config(store).repository_id
    key_id = new_key_id()
    kek, fields = passphrase_kek(b"the thief", KdfParameters(iterations=1, lanes=1, memory_kib=8))
    planted = new_key_file(
        repository_id, key_id, "passphrase", "paper", kek, {1: Generation.new(1)}, fields
    )
    store.put(f"keys/{key_id}", [planted])
    refused = cli("key", "remove", real, expect=12)
    assert "last key that can read" in refused.stderr
    assert (repo / "keys" / real).is_file()
    cli("snapshots")


def test_a_planted_registration_does_not_stop_a_rotation_revoking_writers(
    cli: Cli, tmp_path: Path
) -> None:
    """After a compromise the operator rotates; a garbage `writers/<id>` planted by the stolen
    host (listed first) must not leave the compromised writer valid."""
    from tests.e2e.test_key_commands import add_writer, as_writer

    cli("init")
    credential = add_writer(cli, tmp_path)
    repo = Path(cli.environment["DRTOOL_REPO"])
    (repo / "writers" / "0000000000000000").write_text("{not json")
    rotated = cli("key", "rotate")
    assert "0000000000000000" in rotated.stderr
    assert "revoked" in as_writer(cli, credential)("backup", expect=12).stderr


def test_key_list_names_a_planted_key_file_and_prints_no_control_characters(cli: Cli) -> None:
    cli("init")
    repo = Path(cli.environment["DRTOOL_REPO"])
    store = LocalStore(repo)
    key_id = new_key_id()
    kek, fields = passphrase_kek(b"the thief", KdfParameters(iterations=1, lanes=1, memory_kib=8))
    planted = new_key_file(
        read_config(store).repository_id,
        key_id,
        "passphrase",
        "\x1b]52;c;ZWNobyBwd25lZA==\x07",  # OSC 52: sets the operator's clipboard
        kek,
        {1: Generation.new(1)},
        fields,
    )
    store.put(f"keys/{key_id}", [planted])
    listed = cli("key", "list")
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    (line,) = (line for line in listed.stdout.splitlines() if line.startswith(key_id))
    assert "NOT MADE BY A READER" in line
    rows = {row["id"]: row for row in json.loads(cli("key", "list", "--json").stdout)}
    assert rows[key_id]["endorsed"] is False
    assert [row["endorsed"] for key, row in rows.items() if key != key_id] == [True]
