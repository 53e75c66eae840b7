"""drtool as an operator types it: a subprocess, real repository, sandbox host root."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import load_settings
from drtool.host import Host
from drtool.packs import pack_name
from drtool.repository import Repository
from drtool.snapshot import Manifest
from drtool.store.local import LocalStore
from tests.conftest import EXAMPLES, PASSPHRASE, Cli, fixed_passphrase, owned_listing, tree_listing
from tests.support.artifacts import new_record

MARKER = "DRTOOL-PLAINTEXT-MARKER-5d1c"


def open_repository(cli: Cli) -> Repository:
    return Repository.open(LocalStore(cli.environment["DRTOOL_REPO"]), fixed_passphrase())


def host_root(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_ROOT"])


def backup_id(cli: Cli) -> str:
    return json.loads(cli("backup", "--json").stdout)["id"]


def repository_files(cli: Cli, prefix: str) -> list[Path]:
    return sorted(
        p for p in (Path(cli.environment["DRTOOL_REPO"]) / prefix).rglob("*") if p.is_file()
    )


# -- the operator's main path ---------------------------------------------------------------------


def test_init_backup_list_show_check(cli: Cli) -> None:
    assert "created repository" in cli("init").stdout
    snapshot_id = cli("backup").stdout.strip()
    listed = json.loads(cli("snapshots", "--json").stdout)
    assert [item["id"] for item in listed] == [snapshot_id]
    assert listed[0]["host"] == "web-1"
    assert listed[0]["kinds"] == ["wireguard", "nginx", "fail2ban", "files"]
    assert listed[0]["tags"] == ["demo"]
    assert listed[0]["time"].endswith("Z") and listed[0]["size"] > 0
    assert snapshot_id in cli("snapshots").stdout
    shown = cli("show", snapshot_id).stdout
    assert "/etc/nginx/sites-enabled/toolboxai -> /etc/nginx/sites-available/toolboxai" in shown
    assert "-rw-------" in shown and "/etc/wireguard/wg0.conf" in shown
    document = json.loads(cli("show", "latest", "--json").stdout)
    files = {entry["path"]: entry for kind in document["artifacts"] for entry in kind["entries"]}
    assert files["/etc/wireguard/wg0.conf"]["mode"] == "0600"
    assert "no problems found" in cli("check", "--read-data").stdout


def make_tricky_tree(root: Path) -> None:
    """Every shape of file the issue names: links, modes, empty, binary, non-ASCII, owners."""
    nginx = root / "etc/nginx"
    (nginx / "sites-available").mkdir(parents=True, exist_ok=True)
    (nginx / "bin").mkdir(exist_ok=True)
    (nginx / "empty.conf").write_bytes(b"")
    (nginx / "geo.bin").write_bytes(bytes(range(256)) * 64 + os.urandom(4096))
    (nginx / "sites-available/café-ünïcode.conf").write_text("server { listen 8080; }\n")
    (nginx / "sites-enabled/café").symlink_to("../sites-available/café-ünïcode.conf")
    (nginx / "sites-enabled/dangling").symlink_to("/etc/nginx/sites-available/gone")
    (nginx / "bin/reload.sh").write_text("#!/bin/sh\nnginx -s reload\n")
    (nginx / "bin/reload.sh").chmod(0o755)
    (nginx / "private.key").write_text("not really a key\n")
    (nginx / "private.key").chmod(0o600)
    os.chown(nginx / "private.key", 33, 33)
    os.chown(nginx / "sites-enabled/café", 1234, 5678, follow_symlinks=False)
    os.utime(nginx / "geo.bin", ns=(1, 1_600_000_000_987_654_321))


def test_round_trip_is_byte_identical_with_modes_links_and_owners(cli: Cli, tmp_path: Path):
    root = host_root(cli)
    make_tricky_tree(root)
    before = owned_listing(root)
    cli("init")
    snapshot_id = backup_id(cli)

    # A look without touching the host: --target, no confirmation needed.
    target = tmp_path / "look"
    cli("restore", snapshot_id, "--target", str(target))
    assert owned_listing(target) == before

    # The disaster: a bad edit, a lost key, a rogue site, changed modes; then the restore.
    (root / "etc/nginx/nginx.conf").write_text("events {\n")
    (root / "etc/wireguard/wg0.conf").unlink()
    (root / "etc/nginx/sites-enabled/rogue").write_text("server {}\n")
    (root / "etc/nginx/bin/reload.sh").chmod(0o777)
    (root / "etc/redis/redis.conf").write_text("bind 0.0.0.0\nprotected-mode no\n")
    cli("restore", "latest", "--yes")
    assert owned_listing(root) == before
    assert not list(root.rglob("*.drtool-*")), "no temporary file is left behind"


def test_only_and_date(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    repository = open_repository(cli)
    root = host_root(cli)
    settings = load_settings(EXAMPLES / "drtool.toml")
    for moment, text in [
        (datetime(2025, 1, 6, 2, 15, tzinfo=UTC), "day6"),
        (datetime(2025, 1, 7, 2, 15, tzinfo=UTC), "day7-early"),
        (datetime(2025, 1, 7, 23, 59, tzinfo=UTC), "day7-late"),
        (datetime(2025, 1, 8, 2, 15, tzinfo=UTC), "day8"),
    ]:
        (root / "etc/fail2ban/jail.local").write_text(text)
        (root / "etc/nginx/nginx.conf").write_text(text)
        run_backup(repository, Host(root, "web-1"), collectors_for(settings), now=moment)
    cli("restore", "--date", "20250107", "--only", "fail2ban", "--yes")
    assert (root / "etc/fail2ban/jail.local").read_text() == "day7-late"
    assert (root / "etc/nginx/nginx.conf").read_text() == "day8"
    target = tmp_path / "t"
    cli("restore", "--date", "20250106", "--target", str(target))
    assert (target / "etc/nginx/nginx.conf").read_text() == "day6"


@pytest.mark.usefixtures("backed_up")
def test_snapshots_of_several_hosts(cli: Cli) -> None:
    cli("--host", "web-2", "backup")
    cli("--host", "web-2", "backup")
    only_web_1 = json.loads(cli("snapshots", "--json").stdout)  # DRTOOL_HOST=web-1 is set
    assert [item["host"] for item in only_web_1] == ["web-1"]
    del cli.environment["DRTOOL_HOST"]
    everyone = json.loads(cli("snapshots", "--json").stdout)
    assert sorted(item["host"] for item in everyone) == ["web-1", "web-2", "web-2"]
    only_web_2 = json.loads(cli("--host", "web-2", "snapshots", "--json").stdout)
    assert [item["host"] for item in only_web_2] == ["web-2", "web-2"]


def test_repository_holds_no_plaintext(cli: Cli) -> None:
    root = host_root(cli)
    for path in ["etc/nginx/nginx.conf", "etc/wireguard/wg0.conf", "etc/redis/redis.conf"]:
        with (root / path).open("a") as handle:
            handle.write(f"# {MARKER}\n")
    cli("init")
    cli("--host", f"host-{MARKER[:6]}", "backup", "--tag", "nightly")
    for path in repository_files(cli, ""):
        data = path.read_bytes()
        assert MARKER.encode() not in data, path
        assert b"PrivateKey" not in data and b"protected-mode" not in data, path
        assert PASSPHRASE.encode() not in data, path


# -- bad input: one line, non-zero, nothing lost ---------------------------------------------------


def test_wrong_passphrase(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    wrong.chmod(0o600)
    cli.environment["DRTOOL_PASSWORD_FILE"] = str(wrong)
    assert "wrong passphrase" in cli("backup", expect=12).stderr


def test_no_passphrase(cli: Cli) -> None:
    cli("init")
    del cli.environment["DRTOOL_PASSWORD_FILE"]
    assert "no passphrase" in cli("snapshots", expect=12).stderr


def test_two_passphrase_sources(cli: Cli) -> None:
    cli.environment["DRTOOL_PASSWORD"] = "x"
    assert "only one" in cli("init", expect=17).stderr


def test_password_command(cli: Cli) -> None:
    password_file = cli.environment.pop("DRTOOL_PASSWORD_FILE")
    cli("--password-command", f"cat {password_file}", "init")
    cli("--password-command", f"cat {password_file}", "backup")
    error = cli("--password-command", "exit 4", "snapshots", expect=12).stderr
    assert "the password command: exit status 4" in error


def test_missing_repository(cli: Cli, tmp_path: Path) -> None:
    cli.environment["DRTOOL_REPO"] = str(tmp_path / "nowhere")
    assert "does not exist" in cli("backup", expect=10).stderr


def test_uninitialised_repository(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cli.environment["DRTOOL_REPO"] = str(tmp_path / "empty")
    assert "not a drtool repository" in cli("snapshots", expect=10).stderr


def test_no_repository_given(cli: Cli) -> None:
    del cli.environment["DRTOOL_REPO"]
    assert "no repository" in cli("snapshots", expect=2).stderr


def test_init_on_an_existing_repository(cli: Cli) -> None:
    cli("init")
    keys_before = repository_files(cli, "keys")
    assert "already holds" in cli("init", expect=11).stderr
    assert repository_files(cli, "keys") == keys_before


def test_newer_repository_format(cli: Cli) -> None:
    cli("init")
    (key_path,) = repository_files(cli, "keys")
    key_file = json.loads(key_path.read_text())
    key_path.write_text(json.dumps({**key_file, "repository_format": 3}))
    assert "upgrade drtool" in cli("snapshots", expect=18).stderr


@pytest.mark.usefixtures("backed_up")
def test_unknown_snapshot(cli: Cli) -> None:
    assert "no snapshot 'nope'" in cli("restore", "nope", "--yes", expect=13).stderr
    assert "no snapshot 'nope'" in cli("show", "nope", expect=13).stderr


@pytest.mark.usefixtures("backed_up")
def test_no_snapshot_on_date(cli: Cli) -> None:
    assert "on 20250107" in cli("restore", "--date", "20250107", "--yes", expect=13).stderr


def test_malformed_date(cli: Cli) -> None:
    cli("init")
    assert "invalid date" in cli("restore", "--date", "2025-01-07", "--yes", expect=2).stderr


@pytest.mark.usefixtures("backed_up")
def test_unknown_kind_in_only(cli: Cli) -> None:
    assert "unknown kind" in cli("restore", "--only", "ngnix", "--yes", expect=2).stderr


@pytest.mark.usefixtures("backed_up")
def test_restore_onto_the_host_needs_yes_off_a_terminal(cli: Cli) -> None:
    (host_root(cli) / "etc/nginx/nginx.conf").write_text("edited\n")
    assert "--yes" in cli("restore", expect=16).stderr
    assert (host_root(cli) / "etc/nginx/nginx.conf").read_text() == "edited\n"


def test_invalid_config(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[files]\npaths = ['relative/path']\n")
    cli.environment["DRTOOL_CONFIG"] = str(config)
    assert "must be absolute" in cli("backup", expect=17).stderr
    assert "must be absolute" in cli("init", expect=17).stderr


def test_usage_error_is_click_usage(cli: Cli) -> None:
    completed = cli("restore", "--no-such-option", expect=2)
    assert "No such option" in completed.stderr and "drtool restore --help" in completed.stderr


def the_object_of(cli: Cli, kind: str) -> Path:
    """The pack holding ``kind``'s blob list in the newest snapshot (a new repository's format
    2 stores one backup's blobs in one pack)."""
    manifest = open_repository(cli).read_manifest(open_repository(cli).snapshot_refs()[-1])
    record = manifest.artifact(kind)
    assert record is not None
    return Path(cli.environment["DRTOOL_REPO"]) / pack_name(record.lists[0].pack)


def damage_and_expect_refusal(cli: Cli, damage, message: str) -> None:
    root = host_root(cli)
    (root / "etc/nginx/nginx.conf").write_text("edited after the backup\n")
    (root / "etc/wireguard/wg0.conf").write_text("edited after the backup\n")
    before = tree_listing(root)
    damage(the_object_of(cli, "nginx"))
    assert message in cli("restore", "--yes", expect=14).stderr
    assert tree_listing(root) == before, "a refused restore changes nothing"
    assert message in cli("check", "--read-data", expect=14).stderr


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.usefixtures("backed_up")
def test_tampered_object(cli: Cli) -> None:
    damage_and_expect_refusal(cli, flip_one_byte, "refused")


@pytest.mark.usefixtures("backed_up")
def test_truncated_object(cli: Cli) -> None:
    damage_and_expect_refusal(cli, lambda path: path.write_bytes(path.read_bytes()[:-5]), "refused")


@pytest.mark.usefixtures("backed_up")
def test_missing_object(cli: Cli) -> None:
    damage_and_expect_refusal(cli, Path.unlink, "is missing")


@pytest.mark.usefixtures("backed_up")
def test_plain_check_finds_a_missing_object_and_read_data_finds_a_flipped_byte(cli: Cli):
    flip_one_byte(the_object_of(cli, "fail2ban"))
    assert "no problems found" in cli("check").stdout
    cli("check", "--read-data", expect=14)
    the_object_of(cli, "wireguard").unlink()
    assert "missing" in cli("check", expect=14).stderr
    assert "is not a percentage" in cli("check", "--read-data-subset", "0%", expect=2).stderr
    assert "missing" in cli("check", "--read-data-subset", "10%", expect=14).stderr


@pytest.mark.usefixtures("backed_up")
def test_tampered_manifest(cli: Cli) -> None:
    (manifest_path,) = repository_files(cli, "snapshots")
    flip_one_byte(manifest_path)
    assert "failed authentication" in cli("restore", "--yes", expect=14).stderr


@pytest.mark.usefixtures("backed_up")
def test_manifest_moved_to_another_host(cli: Cli) -> None:
    (manifest_path,) = repository_files(cli, "snapshots")
    other = manifest_path.parent.parent / "web-2" / manifest_path.name
    other.parent.mkdir()
    manifest_path.rename(other)
    assert "failed authentication" in cli("--host", "web-2", "restore", "--yes", expect=14).stderr


# -- archives that would escape the root -------------------------------------------------------


def plant_snapshot(cli: Cli, members: list[tuple[tarfile.TarInfo, bytes]], roots: tuple[str, ...]):
    """Store a hand-made nginx artifact, preceded by a valid wireguard one, as a real snapshot."""
    repository = open_repository(cli)
    good = run_backup(
        repository,
        Host(host_root(cli), "web-1"),
        collectors_for(load_settings(EXAMPLES / "drtool.toml")),
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member, data in members:
            member.size = len(data) if member.isreg() else 0
            archive.addfile(member, io.BytesIO(data) if member.isreg() else None)
    record = new_record(repository, "web-1", "nginx", roots, buffer.getvalue(), len(members))
    manifest = Manifest(
        id="20250107T021500Z-0badf00d",
        host="web-1",
        time="2025-01-07T02:15:00.000000Z",
        tags=(),
        drtool_version="test",
        artifacts=(good.artifact("wireguard"), record),
    )
    repository.write_manifest(manifest)
    return manifest.id


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


@pytest.mark.parametrize(
    "members, roots, message",
    [
        ([member("etc/nginx/../../../tmp/evil")], ("etc/nginx",), "not a safe relative path"),
        ([member("/etc/cron.d/evil")], ("etc/nginx",), "not a safe relative path"),
        ([member("etc/cron.d/evil")], ("etc/nginx",), "outside the artifact's roots"),
        ([member("etc/nginx/x")], ("../etc",), "not a safe relative path"),
        (
            [member("etc/nginx/x", tarfile.SYMTYPE, "../../../../etc/shadow")],
            ("etc/nginx",),
            "points outside the host root",
        ),
        (
            [member("etc/nginx/z", tarfile.SYMTYPE, "/etc/cron.d"), member("etc/nginx/z/evil")],
            ("etc/nginx",),
            "below the symlink",
        ),
        ([member("etc/nginx/dev", tarfile.CHRTYPE)], ("etc/nginx",), "device file"),
        ([member("etc/nginx/h", tarfile.LNKTYPE, "etc/shadow")], ("etc/nginx",), "hard link"),
    ],
    ids=[
        "dotdot",
        "absolute",
        "outside-roots",
        "bad-root",
        "symlink-escape",
        "through-symlink",
        "device",
        "hardlink",
    ],
)
def test_escaping_archive_is_refused_before_anything_is_written(
    cli: Cli, tmp_path: Path, members, roots, message: str
) -> None:
    cli("init")
    root = host_root(cli)
    good_first = [(member("etc/nginx", tarfile.DIRTYPE), b""), (member("etc/nginx/ok.conf"), b"ok")]
    snapshot_id = plant_snapshot(cli, [*good_first, *[(m, b"evil") for m in members]], roots)
    (root / "etc/wireguard/wg0.conf").write_text("edited after the backup\n")
    before = tree_listing(root.parent)
    assert message in cli("restore", snapshot_id, "--yes", expect=15).stderr
    target = tmp_path / "target"
    cli("restore", snapshot_id, "--target", str(target), expect=15)
    assert tree_listing(root.parent) == before, "nothing written, not even the valid kinds"
    assert not any(target.rglob("*"))


@pytest.mark.slow
def test_forget_and_prune(cli: Cli) -> None:
    cli("init")
    root = host_root(cli)
    for index in range(3):
        (root / "etc/fail2ban/jail.local").write_text(f"[sshd]\nmaxretry = {index}\n")
        cli("backup")
    assert "give at least one" in cli("forget", expect=2).stderr
    dry = json.loads(cli("forget", "--keep-last", "1", "--dry-run", "--json").stdout)
    assert len(dry["removed"]) == 2
    assert len(json.loads(cli("snapshots", "--json").stdout)) == 3
    # Three packs: the first backup's (every kind), then one per changed jail.local. Once two
    # snapshots are forgotten, only the second backup's pack is used by none (the first's other
    # kinds are the kept snapshot's too): young at first, deleted with no grace.
    report = json.loads(cli("forget", "--keep-last", "1", "--prune", "--json").stdout)
    assert len(report["removed"]) == 2 and report["prune"]["young"] == 1
    pruned = json.loads(cli("prune", "--grace-minutes", "0", "--json").stdout)
    assert pruned["deleted"] == 1
    assert len(json.loads(cli("snapshots", "--json").stdout)) == 1
    assert "no problems found" in cli("check", "--read-data").stdout


def test_prune_refuses_while_the_lock_is_held(cli: Cli) -> None:
    cli("init")
    from drtool.lock import LOCK_NAME

    LocalStore(cli.environment["DRTOOL_REPO"]).put_new(
        LOCK_NAME,
        json.dumps(
            {
                "purpose": "prune",
                "host": "web-9",
                "pid": 1,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        ).encode(),
    )
    assert "locked by prune on web-9" in cli("prune", expect=21).stderr


def test_object_lock_on_a_local_repository_is_refused(cli: Cli) -> None:
    assert "needs an S3 repository" in cli("init", "--object-lock-days", "30", expect=17).stderr


def test_firewall_through_the_cli_in_a_namespace(cli: Cli, netns: str) -> None:
    from tests.support.netns import run_in

    seed = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    run_in(netns, "iptables-restore", input_text=seed)
    cli("init")
    listed = json.loads(cli("--netns", netns, "backup", "--json").stdout)
    assert "iptables" in listed["kinds"]
    assert "policies" in cli("--netns", netns, "show", "latest").stdout
    run_in(netns, "iptables", "-F")
    cli("--netns", netns, "restore", "--only", "iptables", "--yes")
    assert "--dport 22 -j ACCEPT" in run_in(netns, "iptables-save")
    skipped = cli("restore", "--only", "iptables", "--yes").stdout
    assert "skipped: iptables" in skipped, "without --netns a sandbox root leaves the firewall be"


def test_a_host_with_all_five_kinds_stores_all_five(cli: Cli, dockerd) -> None:
    """Files from the sample root; the firewall and docker networks of a real dockerd's
    namespace (whose own DOCKER chains are in that firewall)."""
    client = dockerd.client()
    try:
        client.networks.create("toolboxai_frontend")
        cli.environment.update(DOCKER_HOST=dockerd.url, DRTOOL_NETNS=dockerd.namespace)
        cli("init")
        summary = json.loads(cli("backup", "--json").stdout)
        assert summary["kinds"] == [
            "docker_networks",
            "wireguard",
            "nginx",
            "iptables",
            "nftables",
            "fail2ban",
            "files",
        ]
        shown = json.loads(cli("show", "latest", "--json").stdout)
        details = {kind["kind"]: kind["details"] for kind in shown["artifacts"]}
        assert "toolboxai_frontend" in details["docker_networks"]
        assert details["iptables"]["v4"]["filter"]["chains"] >= 3
        assert details["wireguard"]["interfaces"]["wg0"]["private_key"] == "<redacted>"
        assert "toolboxai" in details["nginx"]["sites_enabled"]
        assert details["fail2ban"]["enabled_jails"] == ["nginx-limit-req", "sshd"]
    finally:
        client.networks.get("toolboxai_frontend").remove()
        client.close()


def test_init_writes_rfc_9106s_argon2id_cost(cli: Cli) -> None:
    """The real ``python -m drtool`` (the other CLI tests write cheap key files,
    tests/support/fast_kdf.py): a new key file asks FORMAT.md's 3 passes, 4 lanes, 64 MiB, and
    the repository opens with them; the cheap twin's key file asks 1, 1, 8 MiB."""
    real = dataclasses.replace(cli, fast_kdf=False)
    real("init")
    real("snapshots")
    (key_file,) = Path(cli.environment["DRTOOL_REPO"], "keys").iterdir()
    kdf = json.loads(key_file.read_bytes())["kdf"]
    assert (kdf["name"], kdf["iterations"], kdf["lanes"], kdf["memory_kib"]) == (
        "argon2id",
        3,
        4,
        65536,
    )
    cheap = dataclasses.replace(
        cli,
        environment={
            **cli.environment,
            "DRTOOL_REPO": str(Path(cli.environment["DRTOOL_REPO"]).with_name("cheap-repo")),
        },
    )
    cheap("init")
    (cheap_key,) = Path(cheap.environment["DRTOOL_REPO"], "keys").iterdir()
    kdf = json.loads(cheap_key.read_bytes())["kdf"]
    assert (kdf["iterations"], kdf["lanes"], kdf["memory_kib"]) == (1, 1, 8192)
