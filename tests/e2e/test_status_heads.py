"""Signed heads (format 2): `status` trusts a host's record only when a key of that host signed
it; any other record is a problem of that host, in one line, and never a healthy host."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from drtool import format as object_format
from drtool.format import Binding
from drtool.keyring.credential import read_credential
from drtool.keyring.signatures import HEAD, canonical, sign_manifest
from drtool.store.local import LocalStore
from tests.conftest import EXAMPLES, Cli, cli_environment
from tests.e2e.test_format1_repository import FIXTURE
from tests.e2e.test_key_commands import add_writer, as_writer, repo


def _put_head(cli: Cli, keys: object, host: str, document: object) -> None:
    sealed = object_format.seal(keys, Binding.host_head(host), json.dumps(document).encode())  # type: ignore[arg-type]
    LocalStore(repo(cli)).put(f"heads/{host}", [sealed])


def _hosts(listed: str) -> dict[str, dict]:
    return {item["host"]: item for item in json.loads(listed)["hosts"]}


def test_a_head_another_hosts_writer_signs_is_a_problem_until_the_next_backup(
    cli: Cli, tmp_path: Path
) -> None:
    cli("init")
    cli("backup")
    cli("backup", "--host", "web-2")
    thief = read_credential(add_writer(cli, tmp_path, host="web-2")).keys
    head = {"host": "web-1", "snapshot": None}
    message = b"drtool v2 head\x00" + canonical(head)  # FORMAT.md, "Signed manifests"
    signature = base64.b64encode(thief.signing_key.sign(message)).decode()
    envelope = {"head": head, "signer": f"writer:{thief.writer_id}", "signature": signature}
    _put_head(cli, thief, "web-1", envelope)
    refused = cli("status", "--json", expect=29)
    assert "signed by the writer of host web-2, not of host web-1" in refused.stderr
    hosts = _hosts(refused.stdout)
    assert hosts["web-1"]["snapshot"] is None and len(hosts["web-1"]["problems"]) == 1
    assert hosts["web-2"]["problems"] == []  # the rest of the fleet is still read
    cli("backup")  # web-1's next backup replaces the record it cannot trust
    cli("status")


def test_a_revoked_writers_head_is_refused_whatever_time_it_claims(
    cli: Cli, tmp_path: Path
) -> None:
    cli("init")
    credential = add_writer(cli, tmp_path)
    as_writer(cli, credential)("backup")
    cli("status")  # a write-only host's head is signed by its own key
    cli("key", "remove", read_credential(credential).keys.writer_id)
    refused = cli("status", expect=29).stderr
    assert "web-1 (the status record of host web-1 was written by writer" in refused
    assert "revoked" in refused


def test_only_an_operator_signs_the_record_of_the_check(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    cli("check")
    cli("status")
    # An operator registers a writer for a host that happens to be named like the check record.
    keys = read_credential(add_writer(cli, tmp_path, host="_repository")).keys
    check = {"time": "2099-01-01T00:00:00.000000Z", "passed": True, "read_data": True}
    _put_head(
        cli,
        keys,
        "_repository",
        sign_manifest(keys, "_repository", {"host": "_repository", "check": check}, HEAD),
    )
    refused = cli("status", "--json", expect=29)
    assert "only an operator key signs" in refused.stderr
    assert json.loads(refused.stdout)["check"] is None


def test_a_format_1_repositorys_heads_are_read_as_before(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE / "repository", tmp_path / "repo")
    old = Cli(cli_environment(tmp_path, tmp_path / "host", EXAMPLES / "drtool.toml"))
    (tmp_path / "passphrase").write_text("format one fixture\n")
    old("check")
    # Its host backed up before `status` existed: shown with no record, not left out.
    status = json.loads(old("status", "--json", expect=29).stdout)
    assert status["check"]["passed"] is True
    assert [(item["host"], item["problems"]) for item in status["hosts"]] == [
        (
            "web-1",
            [
                "the status record of host web-1 is missing, though it has snapshots "
                "(deleted, or never written)"
            ],
        )
    ]
