"""`drtool key ...` and repository format 2's key hierarchy, through the CLI: passphrases added,
changed and removed; rotations that re-encrypt nothing (old snapshots restore byte for byte,
checked with sha256 of the files themselves); write-only hosts that back up without a passphrase
and read nothing; signed manifests (another host's, a revoked writer's, a replayed one refused);
hostile credentials and key files refused in one line with nothing changed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drtool import format as object_format
from drtool.errors import KeyUnavailable
from drtool.format import Binding
from drtool.keyring.access import WriterKeys
from drtool.keyring.credential import read_credential
from drtool.keyring.primitives import seal
from drtool.keyring.signatures import sign_manifest
from drtool.repository import Repository, manifest_name
from drtool.snapshot import SnapshotRef, new_snapshot_id, snapshot_time
from drtool.store.local import LocalStore
from drtool.timeutil import iso
from tests.conftest import EXAMPLES, Cli, cli_environment, fixed_passphrase

WG = "etc/wireguard/wg0.conf"


def repo(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_REPO"])


def root(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_ROOT"])


def sha256_of_tree(path: Path) -> dict[str, str]:
    """The oracle: every regular file's sha256, read from the disk, not through drtool."""
    return {
        str(item.relative_to(path)): hashlib.sha256(item.read_bytes()).hexdigest()
        for item in sorted(path.rglob("*"))
        if item.is_file() and not item.is_symlink()
    }


def repository_bytes(cli: Cli) -> dict[str, bytes]:
    return {
        str(item.relative_to(repo(cli))): item.read_bytes()
        for item in sorted(repo(cli).rglob("*"))
        if item.is_file() and item.relative_to(repo(cli)).parts[0] != "locks"
    }


def with_new_passphrase(cli: Cli, tmp_path: Path, secret: str) -> Cli:
    path = tmp_path / f"new-{hashlib.sha256(secret.encode()).hexdigest()[:8]}"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return Cli({**cli.environment, "DRTOOL_NEW_PASSWORD_FILE": str(path)})


def as_passphrase(cli: Cli, tmp_path: Path, secret: str) -> Cli:
    path = tmp_path / f"pass-{hashlib.sha256(secret.encode()).hexdigest()[:8]}"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return Cli({**cli.environment, "DRTOOL_PASSWORD_FILE": str(path)})


def as_writer(cli: Cli, credential: Path, host: str = "web-1") -> Cli:
    environment = {k: v for k, v in cli.environment.items() if k != "DRTOOL_PASSWORD_FILE"}
    return Cli({**environment, "DRTOOL_KEY_FILE": str(credential), "DRTOOL_HOST": host})


def add_writer(cli: Cli, tmp_path: Path, host: str = "web-1") -> Path:
    output = tmp_path / f"writer-{host}-{len(list(tmp_path.glob('writer-*')))}"
    cli("key", "add-writer", "--host", host, "--output", str(output))
    return output


def test_init_makes_format_2_and_rotations_reencrypt_nothing(cli: Cli) -> None:
    cli("init")
    assert json.loads((repo(cli) / "config").read_text())["format"] == 2
    (key_path,) = (repo(cli) / "keys").iterdir()
    key_file = json.loads(key_path.read_text())
    assert (key_file["repository_format"], key_file["kind"]) == (2, "passphrase")
    assert [entry["generation"] for entry in key_file["generations"]] == [1]
    first = cli("backup").stdout.strip()
    expected = sha256_of_tree(root(cli) / "etc/wireguard")
    objects_before = {
        name: data for name, data in repository_bytes(cli).items() if name.startswith("objects")
    }
    (root(cli) / WG).write_text("[Interface]\nPrivateKey = changed\n")
    cli("key", "rotate")
    second = cli("backup").stdout.strip()
    cli("key", "rotate")
    cli("key", "rotate")
    after = repository_bytes(cli)
    assert {name: after[name] for name in objects_before} == objects_before  # not re-encrypted
    key_file = json.loads(key_path.read_text())
    assert [entry["generation"] for entry in key_file["generations"]] == [1, 2, 3, 4]
    cli("restore", first, "--yes")
    assert sha256_of_tree(root(cli) / "etc/wireguard") == expected
    cli("restore", second, "--yes")
    assert (root(cli) / WG).read_text() == "[Interface]\nPrivateKey = changed\n"
    cli("check", "--read-data")


def test_add_passwd_remove_and_the_last_reader(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    second_id = with_new_passphrase(cli, tmp_path, "second secret")(
        "key", "add", "--label", "alice"
    ).stdout.strip()
    alice = as_passphrase(cli, tmp_path, "second secret")
    alice("snapshots")
    listed = json.loads(cli("key", "list", "--json").stdout)
    assert {(row["label"], row["kind"]) for row in listed} == {
        ("init", "passphrase"),
        ("alice", "passphrase"),
    }
    with_new_passphrase(alice, tmp_path, "third secret")("key", "passwd")
    assert "wrong passphrase" in alice("snapshots", expect=12).stderr
    alice = as_passphrase(cli, tmp_path, "third secret")
    alice("snapshots")
    (init_id,) = {row["id"] for row in listed} - {second_id}
    alice("key", "remove", init_id)
    assert "wrong passphrase" in cli("snapshots", expect=12).stderr
    before = repository_bytes(cli)
    assert "last key" in alice("key", "remove", second_id, expect=12).stderr
    assert "no key" in alice("key", "remove", "../config", expect=12).stderr
    assert repository_bytes(cli) == before
    alice("restore", "latest", "--yes")


def test_the_new_passphrase_is_never_a_flag(cli: Cli) -> None:
    cli("init")
    assert "no new passphrase" in cli("key", "add", "--label", "x", expect=12).stderr
    assert "No such option" in cli("key", "add", "--label", "x", "--password", "p", expect=2).stderr


def test_paper_key_opens_the_repository(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    printed = cli("key", "export", "--paper").stdout
    code = next(line.split(": ", 1)[1] for line in printed.splitlines() if "passphrase:" in line)
    conf = Path(cli.environment["DRTOOL_ROOT"]) / "etc/nginx/nginx.conf"
    kept = conf.read_bytes()
    conf.write_text("broken {\n")
    as_passphrase(cli, tmp_path, code)("restore", "latest", "--yes")
    assert conf.read_bytes() == kept, "the paper key opened the repository and restored"


def test_a_writer_backs_up_with_no_passphrase_and_reads_nothing(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    first = cli("backup").stdout.strip()
    credential = add_writer(cli, tmp_path)
    assert credential.stat().st_mode & 0o777 == 0o600
    writer = as_writer(cli, credential)
    expected = sha256_of_tree(root(cli) / "etc")
    written = writer("backup", "--json")
    snapshot = json.loads(written.stdout)["id"]
    outputs = [written.stdout + written.stderr]
    for command in (
        ("restore", "latest", "--yes"),
        ("restore", first, "--yes"),
        ("show", snapshot),
        ("diff", first),
        ("dump", snapshot, WG),
        ("drill", snapshot),
        ("check", "--read-data"),
        ("snapshots",),
        ("key", "list"),
    ):
        refused = writer(*command, expect=12)
        assert "can only write" in refused.stderr
        outputs.append(refused.stdout + refused.stderr)
    assert sha256_of_tree(root(cli) / "etc") == expected
    # no secret of the credential in anything the writer printed
    document = json.loads(credential.read_text())
    for field in ("signing_key", "content_id_key"):
        secret = document[field]
        assert not any(secret in output for output in outputs)
        assert base64.b64decode(secret).hex() not in "".join(outputs)
    # a reader restores what the writer wrote, byte for byte
    (root(cli) / WG).write_text("changed\n")
    cli("restore", snapshot, "--yes")
    assert sha256_of_tree(root(cli) / "etc") == expected
    status = json.loads(cli("status", "--json").stdout)
    assert snapshot in json.dumps(status)


def test_a_writer_writes_its_own_host_only(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    credential = add_writer(cli, tmp_path, host="web-2")
    before = repository_bytes(cli)
    refused = as_writer(cli, credential, host="web-1")("backup", expect=12)
    assert "credential for host web-2" in refused.stderr
    assert repository_bytes(cli) == before
    # a stolen web-2 crafting a web-1 snapshot with its own key: refused by every reader
    store = LocalStore(repo(cli))
    keys = Repository.open_writer(store, read_credential(credential)).key
    assert isinstance(keys, WriterKeys)
    with pytest.raises(KeyUnavailable, match="web-2 only"):
        sign_manifest(keys, "web-1", {})
    real = _manifest_document(cli, sorted((repo(cli) / "snapshots/web-1").iterdir())[0].name)
    forged_id = new_snapshot_id(_time_of(real["id"]))
    manifest = {**real, "id": forged_id}
    envelope = {"manifest": manifest, "signer": f"writer:{keys.writer_id}"}
    envelope["signature"] = base64.b64encode(
        keys.signing_key.sign(b"drtool v2 manifest\x00" + _canonical(manifest))
    ).decode()
    payload = json.dumps(envelope, sort_keys=True).encode()
    sealed = object_format.seal(keys, Binding.manifest("web-1", forged_id), payload)
    store.put(manifest_name("web-1", forged_id), [sealed])
    for command in (("restore", forged_id, "--yes"), ("drill", forged_id), ("diff", forged_id)):
        assert "writer of host web-2" in cli(*command, expect=14).stderr


def test_a_replayed_manifest_is_refused(cli: Cli) -> None:
    cli("init")
    first = cli("backup").stdout.strip()
    replayed = new_snapshot_id(_time_of(first))
    shutil.copy(
        repo(cli) / manifest_name("web-1", first), repo(cli) / manifest_name("web-1", replayed)
    )
    assert "failed authentication" in cli("restore", replayed, "--yes", expect=14).stderr
    os.makedirs(repo(cli) / "snapshots/web-2")
    shutil.move(
        repo(cli) / manifest_name("web-1", first), repo(cli) / manifest_name("web-2", first)
    )
    assert "failed authentication" in cli("show", first, expect=14).stderr


def test_revoked_and_rotated_writers(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    credential = add_writer(cli, tmp_path)
    writer = as_writer(cli, credential)
    early = writer("backup").stdout.strip()
    writer_id = read_credential(credential).keys.writer_id
    assert f"revoked writer {writer_id}" in cli("key", "remove", writer_id).stdout
    assert "revoked" in writer("backup", expect=12).stderr
    cli("restore", early, "--yes")  # written before the revocation: still restores
    # the stolen credential writes a snapshot dated after its revocation anyway: refused
    late = _write_as(credential, cli, new_snapshot_id(datetime.now(UTC) + timedelta(seconds=1)))
    assert "revoked" in cli("restore", late, "--yes", expect=14).stderr
    # a rotation revokes the writers issued before it, and names their hosts
    second = add_writer(cli, tmp_path)
    kept = add_writer(cli, tmp_path, host="web-2")
    rotated = json.loads(cli("key", "rotate", "--json").stdout)
    assert rotated["hosts_needing_a_credential"] == ["web-1", "web-2"]
    assert "revoked" in as_writer(cli, second)("backup", expect=12).stderr
    assert "revoked" in as_writer(cli, kept, "web-2")("backup", expect=12).stderr
    third = add_writer(cli, tmp_path)
    assert json.loads(cli("key", "rotate", "--keep-writers", "--json").stdout)["writers_kept"] == [
        "web-1"
    ]
    kept_snapshot = as_writer(cli, third)("backup").stdout.strip()
    cli("restore", kept_snapshot, "--yes")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "not a writer credential"),
        (b"[]", "not a writer credential"),
        (b" " * 70000, "too large"),
    ],
)
def test_hostile_credentials_are_refused(
    cli: Cli, tmp_path: Path, content: bytes, message: str
) -> None:
    cli("init")
    cli("backup")
    path = tmp_path / "hostile"
    path.write_bytes(content)
    before = repository_bytes(cli)
    assert message in as_writer(cli, path)("backup", expect=12).stderr
    assert repository_bytes(cli) == before


@pytest.mark.parametrize(
    "field, value, code",
    [
        ("signing_key", base64.b64encode(b"x" * 31).decode(), 12),
        ("reader_public", "!!", 12),
        ("generation", -1, 12),
        ("writer_id", "../../config", 12),
        ("host", "../etc", 12),
        ("format", 3, 18),
        ("repository_id", "0" * 32, 12),
    ],
)
def test_damaged_credentials_are_refused(
    cli: Cli, tmp_path: Path, field: str, value: object, code: int
) -> None:
    cli("init")
    credential = add_writer(cli, tmp_path)
    document = json.loads(credential.read_text())
    credential.write_text(json.dumps({**document, field: value}))
    before = repository_bytes(cli)
    refused = as_writer(cli, credential)("backup", expect=code)
    assert document["signing_key"] not in refused.stderr
    assert repository_bytes(cli) == before


def test_hostile_key_files_are_refused(cli: Cli) -> None:
    cli("init")
    (key_path,) = (repo(cli) / "keys").iterdir()
    original = json.loads(key_path.read_text())
    for damage in (
        {"kdf": {**original["kdf"], "memory_kib": 64 * 1024 * 1024}},
        {"kdf": {**original["kdf"], "iterations": 10**9}},
        {"public_key": base64.b64encode(b"k" * 31).decode()},
        {"wrapped_key": "AAAA"},
        {"generations": []},
        {"anchor": "x"},
    ):
        key_path.write_text(json.dumps({**original, **damage}))
        assert "refused" in cli("snapshots", expect=12).stderr
    # a generation sealed by someone without the operator key (anyone can seal to the public
    # key): the bucket's thief who would make every reader write to a key pair of theirs
    aad = b"\x00".join(
        [b"drtool v2 generation", original["repository_id"].encode(), original["key_id"].encode()]
    )
    aad += b"\x00" + (2).to_bytes(4, "big")
    public = base64.b64decode(original["public_key"])
    sealed = seal(os.urandom(32), public, b"drtool v2 generation seal", aad)
    thief = Ed25519PrivateKey.generate()
    forged = {
        "generation": 2,
        "sealed": base64.b64encode(sealed).decode(),
        "signature": base64.b64encode(thief.sign(aad + sealed)).decode(),
    }
    key_path.write_text(json.dumps({**original, "generations": [*original["generations"], forged]}))
    assert "not signed by the keyring" in cli("snapshots", expect=12).stderr


def _time_of(snapshot_id: str) -> datetime:
    moment = snapshot_time(snapshot_id)
    assert moment is not None
    return moment + timedelta(microseconds=1)


def _manifest_document(cli: Cli, snapshot_id: str) -> dict:
    repository = Repository.open(LocalStore(repo(cli)), fixed_passphrase())
    return repository.read_manifest(SnapshotRef(snapshot_id, "web-1")).to_json()


def _canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _write_as(credential: Path, cli: Cli, snapshot_id: str) -> str:
    """A manifest of web-1 written and signed with ``credential`` through drtool's own code,
    as the stolen host would; return its id."""
    store = LocalStore(repo(cli))
    keys = read_credential(credential).keys
    real = _manifest_document(cli, sorted((repo(cli) / "snapshots/web-1").iterdir())[0].name)
    moment = snapshot_time(snapshot_id)
    assert moment is not None
    manifest = {**real, "id": snapshot_id, "time": iso(moment)}
    payload = json.dumps(sign_manifest(keys, "web-1", manifest), sort_keys=True).encode()
    store.put(
        manifest_name("web-1", snapshot_id),
        [object_format.seal(keys, Binding.manifest("web-1", snapshot_id), payload)],
    )
    return snapshot_id


def test_a_format_1_repository_says_key_commands_need_format_2(tmp_path: Path) -> None:
    from tests.e2e.test_format1_repository import FIXTURE

    shutil.copytree(FIXTURE / "repository", tmp_path / "repo")
    (tmp_path / "host").mkdir()
    environment = cli_environment(tmp_path, tmp_path / "host", EXAMPLES / "drtool.toml")
    (tmp_path / "passphrase").write_text("format one fixture\n")
    old = Cli(environment)
    before = repository_bytes(old)
    for command in (
        ("key", "list"),
        ("key", "rotate"),
        ("key", "add-writer", "--host", "web-1", "--output", str(tmp_path / "w")),
    ):
        assert "format 1" in old(*command, expect=12).stderr
    assert repository_bytes(old) == before
    assert not (tmp_path / "w").exists()


def test_secrets_never_reach_the_output(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    outputs = [cli("backup")]
    new = with_new_passphrase(cli, tmp_path, "the new one is secret")
    outputs.append(new("key", "add", "--label", "x"))
    outputs.append(new("key", "passwd"))  # the key in use: init's
    cli = as_passphrase(cli, tmp_path, "the new one is secret")
    outputs.append(cli("key", "list", "--json"))
    credential = add_writer(cli, tmp_path)
    outputs.append(as_writer(cli, credential)("backup", "-v"))
    text = "".join(output.stdout + output.stderr for output in outputs)
    document = json.loads(credential.read_text())
    for secret in (
        "the new one is secret",
        "correct horse battery staple",
        document["signing_key"],
        document["content_id_key"],
    ):
        assert secret not in text
