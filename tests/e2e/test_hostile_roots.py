"""A snapshot is untrusted: the roots a restore replaces are the restoring host's, never the
snapshot's (issue 10). Hostile snapshots are built both ways: ordinary CLI backups of crafted
roots whose drtool.toml names roots no restoring host gives, and manifests written by drtool's own
format code. The oracle is the restoring host's whole tree, before and after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.collectors.base import PathsCollector
from drtool.config import RestorePolicy, Settings
from drtool.errors import UnsafeArchive
from drtool.host import Host
from drtool.restore import restore_snapshot
from drtool.snapshot import Manifest
from tests.conftest import EXAMPLES, Cli, cli_environment, tree_listing
from tests.e2e.test_cli import open_repository

# (the hostile host's drtool.toml, the kind and root the refusal names)
HOSTILE = {
    "root/.ssh": ('[files]\npaths = ["/root/.ssh"]\n', "files", "/root/.ssh"),
    "etc/cron.d": ('[files]\npaths = ["/etc/cron.d"]\n', "files", "/etc/cron.d"),
    "etc": ('[nginx]\npath = "/etc"\n[backup]\nkinds = ["nginx"]\n', "nginx", "/etc"),
}


def crafted_root(directory: Path) -> Path:
    """A host whose payloads would give whoever restores it away."""
    root = directory / "evil"
    (root / "root/.ssh").mkdir(parents=True)
    (root / "root/.ssh/authorized_keys").write_text("ssh-ed25519 AAAA attacker\n")
    (root / "etc/cron.d").mkdir(parents=True)
    (root / "etc/cron.d/payload").write_text("* * * * * root touch /tmp/owned\n")
    (root / "etc/nginx").mkdir()
    (root / "etc/nginx/nginx.conf").write_text("events {}\n")
    return root


def hostile_backup(cli: Cli, tmp_path: Path, case: str) -> str:
    """A CLI backup of the crafted root, as the hostile host ``evil`` would make it."""
    config_text, _, _ = HOSTILE[case]
    config = tmp_path / f"evil-{case.replace('/', '-')}.toml"
    config.write_text(config_text)
    evil = Cli(
        {
            **cli.environment,
            "DRTOOL_ROOT": str(crafted_root(tmp_path / case.replace("/", "-"))),
            "DRTOOL_HOST": "evil",
            "DRTOOL_CONFIG": str(config),
        }
    )
    return json.loads(evil("backup", "--json").stdout)["id"]


@pytest.fixture
def hostile(cli: Cli, tmp_path: Path) -> dict[str, str]:
    """Every hostile snapshot, by case, in the repository the sample host restores from."""
    cli("init")
    return {case: hostile_backup(cli, tmp_path, case) for case in HOSTILE}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_snapshot_root_the_host_does_not_give_is_refused_and_nothing_is_written(
    cli: Cli, hostile: dict[str, str], tmp_path: Path, case: str
) -> None:
    _, kind, root = HOSTILE[case]
    host = Path(cli.environment["DRTOOL_ROOT"])
    before = tree_listing(host)
    target = tmp_path / "look"
    for arguments in (
        ("--yes",),
        ("--yes", "--include-root", root),  # never a root, whoever names it
        ("--target", str(target)),
        ("--dry-run",),
    ):
        refused = cli("restore", hostile[case], *arguments, expect=15)
        assert f"snapshot's {kind} root {root} refused" in refused.stderr
        assert tree_listing(host) == before
    assert not target.exists()
    drilled = cli("drill", hostile[case], expect=15)
    assert f"{kind} root {root} refused" in drilled.stderr
    assert tree_listing(host) == before


def test_a_replacement_host_names_the_roots_it_takes(cli: Cli, tmp_path: Path) -> None:
    """A root of the old host's drtool.toml, restored on a host with no drtool.toml: refused
    until the operator names it; the plan lists every root it replaces."""
    cli("init")
    snapshot_id = json.loads(cli("backup", "--json").stdout)["id"]
    fresh, state = tmp_path / "fresh", tmp_path / "replacement"
    fresh.mkdir()
    state.mkdir()
    bare = state / "drtool.toml"
    bare.write_text("")
    environment = cli_environment(state, fresh, bare)
    replacement = Cli({**environment, "DRTOOL_REPO": cli.environment["DRTOOL_REPO"]})
    refused = replacement("restore", snapshot_id, "--yes", expect=15)
    assert "files root /etc/postgresql/15/main/pg_hba.conf refused" in refused.stderr
    assert list(fresh.iterdir()) == []
    include = [
        "--include-root",
        "/etc/postgresql/15/main/pg_hba.conf",
        "--include-root",
        "/etc/redis/redis.conf",
    ]
    plan = json.loads(replacement("restore", snapshot_id, "--dry-run", "--json", *include).stdout)
    assert plan["roots"]["files"] == [
        "/etc/postgresql/15/main/pg_hba.conf",
        "/etc/redis/redis.conf",
    ]
    assert plan["roots"]["nginx"] == ["/etc/nginx"]
    replacement("restore", snapshot_id, "--yes", *include)
    sample = Path(cli.environment["DRTOOL_ROOT"])
    assert (fresh / "etc/redis/redis.conf").read_bytes() == (
        sample / "etc/redis/redis.conf"
    ).read_bytes()


def hostile_manifest(cli: Cli, tmp_path: Path, kind: str, path: str) -> Manifest:
    """A snapshot written by drtool's own format code whose ``kind`` claims ``path``."""
    repository = open_repository(cli)
    evil = crafted_root(tmp_path / kind)
    return run_backup(repository, Host(evil, "evil"), [PathsCollector(kind, (path,))])


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("nginx", "/root/.ssh"),
        ("files", "/etc/cron.d"),
        ("wireguard", "/etc"),
        ("fail2ban", "/etc/cron.d/payload"),
    ],
)
def test_a_manifest_claiming_a_foreign_root_is_refused_by_the_library(
    cli: Cli, tmp_path: Path, kind: str, path: str
) -> None:
    cli("init")
    manifest = hostile_manifest(cli, tmp_path, kind, path)
    host = Path(cli.environment["DRTOOL_ROOT"])
    before = tree_listing(host)
    collectors = collectors_for(Settings(files=("/etc/redis/redis.conf",)))
    with pytest.raises(UnsafeArchive, match="refused"):
        restore_snapshot(
            open_repository(cli),
            manifest,
            Host(host, "web-1"),
            collectors,
            policy=RestorePolicy(include_roots=(path,)),
        )
    assert tree_listing(host) == before


def test_a_root_inside_another_kinds_is_refused(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    manifest = hostile_manifest(cli, tmp_path, "files", "/etc/nginx/nginx.conf")
    host = Path(cli.environment["DRTOOL_ROOT"])
    before = tree_listing(host)
    collectors = collectors_for(Settings())
    repository = open_repository(cli)
    included = RestorePolicy(include_roots=("/etc/nginx/nginx.conf",))
    with pytest.raises(UnsafeArchive, match="overlaps the nginx root /etc/nginx"):
        restore_snapshot(repository, manifest, Host(host, "web-1"), collectors, policy=included)
    assert tree_listing(host) == before


def test_the_sample_hosts_own_roots_are_listed_in_the_plan(cli: Cli) -> None:
    """The sample host's own roots (examples/drtool.toml) pass, and the plan lists them."""
    cli("init")
    cli("backup")
    plan = json.loads(cli("restore", "--dry-run", "--json").stdout)
    assert plan["roots"] == {
        "wireguard": ["/etc/wireguard"],
        "nginx": ["/etc/nginx"],
        "fail2ban": ["/etc/fail2ban"],
        "files": ["/etc/postgresql/15/main/pg_hba.conf", "/etc/redis/redis.conf"],
    }


def test_set_id_bits_are_dropped_unless_kept(cli: Cli, tmp_path: Path) -> None:
    """A set-uid root file in a snapshot is root for whoever runs it: restored without its
    set-id bits unless drtool.toml says ``[restore] keep_setid = true``."""
    host = Path(cli.environment["DRTOOL_ROOT"])
    (host / "etc/nginx/helper").write_bytes(b"#!/bin/sh\n")
    (host / "etc/nginx/helper").chmod(0o6755)
    (host / "etc/nginx/shared").mkdir(mode=0o755)
    (host / "etc/nginx/shared").chmod(0o3775)  # set-gid and sticky
    cli("init")
    snapshot_id = json.loads(cli("backup", "--json").stdout)["id"]
    dropped = tmp_path / "dropped"
    restored = cli("restore", snapshot_id, "--only", "nginx", "--target", str(dropped))
    assert "set-uid/set-gid bits dropped from 2 file(s)" in restored.stderr
    assert (dropped / "etc/nginx/helper").stat().st_mode & 0o7777 == 0o755
    assert (dropped / "etc/nginx/shared").stat().st_mode & 0o7777 == 0o1775
    config = tmp_path / "keep.toml"
    config.write_text((EXAMPLES / "drtool.toml").read_text() + "\n[restore]\nkeep_setid = true\n")
    kept = tmp_path / "kept"
    keeping = Cli({**cli.environment, "DRTOOL_CONFIG": str(config)})
    keeping("restore", snapshot_id, "--only", "nginx", "--target", str(kept))
    assert (kept / "etc/nginx/helper").stat().st_mode & 0o7777 == 0o6755
    assert (kept / "etc/nginx/shared").stat().st_mode & 0o7777 == 0o3775


@pytest.mark.real_parts("nginx", "bwrap")
def test_a_dry_run_is_refused_where_the_restore_is(cli: Cli) -> None:
    """The sample's nginx names a certificate the snapshot lacks: validation refuses it (22),
    in a dry run as in the restore itself, and nothing changes."""
    cli("init")
    cli("backup")
    host = Path(cli.environment["DRTOOL_ROOT"])
    before = tree_listing(host)
    refused = cli("--services", "restore", "--yes", expect=22).stderr
    dry = cli("--services", "restore", "--dry-run", expect=22).stderr
    for stderr in (refused, dry):
        assert stderr.startswith("drtool: error: validation refused the snapshot, nothing changed")
    assert tree_listing(host) == before
