"""The README's promises on public nginx trees nobody on the project wrote (tests/data/nginx):
h5bp's server-configs-nginx (its certificate inside /etc/nginx) and Debian bookworm's own
/etc/nginx with its snakeoil TLS site (its certificate and key in /etc/ssl, held by [files]).

Each tree runs on a sandbox host root with a real nginx (tests/support/nginx_trees.py), and goes
through drtool as an operator types it: backup, snapshots, show, diff, a damage, diff and
restore --dry-run, restore --target, restore onto the host with nginx reloaded, a restore onto a
replacement host (a fresh Debian nginx) by the snapshot's id, drill, and check --read-data. The
oracles are the trees' own files (tests/data, compared byte for byte), the files' modes, owners
and times as the test made them, and what nginx answers over HTTPS in its namespace.
"""

from __future__ import annotations

import filecmp
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Cli, cli_environment, tree_listing
from tests.support.nginx_trees import (
    DEBIAN,
    FRESH_ANSWER,
    H5BP,
    ROGUE,
    ROGUE_SERVER,
    SandboxNginx,
    Tree,
    drtool_toml,
    install,
    install_fresh_debian,
    serving,
)

pytestmark = [
    pytest.mark.real_parts("nginx", "bwrap", "netns"),
]

BOTH = [pytest.param(H5BP, id=H5BP.name), pytest.param(DEBIAN, id=DEBIAN.name)]


@dataclass
class Served:
    tree: Tree
    root: Path
    nginx: SandboxNginx
    cli: Cli
    snapshot: str
    original: dict[str, tuple]  # what the snapshot holds, as the host had it at backup time
    damaged: bool = False


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The tree on a sandbox host, nginx serving it, backed up once into a fresh repository."""
    tree: Tree = request.param
    directory = tmp_path_factory.mktemp(tree.name)
    root = directory / "host"
    install(tree, root)
    with serving(root, tree.answer) as nginx:
        config = directory / "drtool.toml"
        config.write_text(drtool_toml(tree, root))
        cli = Cli(cli_environment(directory, root, config))
        cli("init")
        snapshot = cli("backup").stdout.strip()
        yield Served(tree, root, nginx, cli, snapshot, held(tree, root))


@pytest.fixture
def damaged(served: Served) -> Served:
    """The incident, once per tree: a live edit (reloaded, so nginx serves it), a rogue server,
    a deleted file, a private key left world-readable."""
    if not served.damaged:
        damage, root = served.tree.damage, served.root
        edited = root / damage.edited.lstrip("/")
        text = edited.read_text()
        assert damage.old in text
        edited.write_text(text.replace(damage.old, damage.new))
        (root / ROGUE.lstrip("/")).write_text(ROGUE_SERVER)
        (root / damage.deleted.lstrip("/")).unlink()
        (root / served.tree.key.lstrip("/")).chmod(0o644)
        served.nginx.reload()
        assert served.nginx.ask(expected=served.tree.damaged_answer) == served.tree.damaged_answer
        assert served.nginx.ask(8080, "http", "200 rogue") == "200 rogue"
        served.damaged = True
    return served


def held(tree: Tree, root: Path) -> dict[str, tuple]:
    """What drtool must bring back, path by path: the /etc/nginx tree (itself included) and the
    [files] paths, each with its content or link target, mode, owner and mtime."""
    tree_files = tree_listing(root / "etc/nginx")
    listing = {f"etc/nginx/{path}": entry for path, entry in tree_files.items()}
    for path in ("/etc/nginx", *tree.files):
        status = (root / path.lstrip("/")).lstat()
        content = (root / path.lstrip("/")).read_bytes() if path in tree.files else ("dir",)
        listing[path.lstrip("/")] = (
            content,
            status.st_mode,
            status.st_uid,
            status.st_gid,
            status.st_mtime_ns,
        )
    return listing


def assert_same_as_the_source(tree: Tree, root: Path) -> None:
    """Every file and link of the published tree (tests/data) is at ``root``, byte for byte."""
    source = tree.source / "etc/nginx"
    for directory, _, filenames in os.walk(source):
        for name in filenames:
            published = Path(directory, name)
            restored = root / "etc/nginx" / published.relative_to(source)
            if published.is_symlink():
                assert os.readlink(restored) == os.readlink(published), restored
            else:
                assert filecmp.cmp(published, restored, shallow=False), restored


@pytest.mark.parametrize("served", BOTH, indirect=True)
def test_a_backup_holds_every_file_and_diffs_clean(served: Served) -> None:
    (listed,) = json.loads(served.cli("snapshots", "--json").stdout)
    assert listed["id"] == served.snapshot
    assert set(listed["kinds"]) == ({"nginx", "files"} if served.tree.files else {"nginx"})
    shown = json.loads(served.cli("show", served.snapshot, "--json").stdout)
    paths = {entry["path"] for artifact in shown["artifacts"] for entry in artifact["entries"]}
    assert paths == {f"/{path}" for path in served.original}
    assert served.cli("diff", "latest").stdout.strip() == "no differences"


@pytest.mark.parametrize("served", BOTH, indirect=True)
def test_the_damage_shows_in_diff_and_dry_run_and_the_dry_run_changes_nothing(
    damaged: Served,
) -> None:
    damage = damaged.tree.damage
    changes = json.loads(damaged.cli("diff", "latest", "--json", expect=3, one_line=False).stdout)
    changed = {change["path"]: change for kind in changes.values() for change in kind["changed"]}
    assert any(
        line.startswith("+") and damage.new in line for line in changed[damage.edited]["content"]
    )
    assert changed[damaged.tree.key]["mode"].endswith("-> 0644")
    assert ROGUE in changes["nginx"]["added"]
    assert damage.deleted in changes["nginx"]["removed"]
    before = tree_listing(damaged.root / "etc")
    plan = damaged.cli("restore", "--dry-run").stdout
    assert "nothing changed" in plan
    assert f"- {ROGUE}" in plan and f"+ {damage.deleted}" in plan
    assert tree_listing(damaged.root / "etc") == before
    assert damaged.nginx.ask(expected=damaged.tree.damaged_answer) == damaged.tree.damaged_answer


@pytest.mark.parametrize("served", BOTH, indirect=True)
def test_a_renewed_private_key_never_shows_in_diff_or_dry_run(served: Served) -> None:
    """A certificate renewal on the live host: the diff and the plan name the key file as
    changed, and print not one line of either key."""
    key = served.root / served.tree.key.lstrip("/")
    kept, status = key.read_bytes(), key.stat()
    renewed = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key.write_bytes(renewed)
    try:
        said = [
            served.cli("diff", "latest", expect=3, one_line=False).stdout,
            served.cli("restore", "--dry-run").stdout,
        ]
    finally:
        key.write_bytes(kept)
        os.utime(key, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert all(served.tree.key in output for output in said)
    key_lines = [line for line in (kept + renewed).decode().splitlines() if "-----" not in line]
    assert not [line for line in key_lines if any(line in output for output in said)]


@pytest.mark.parametrize("served", BOTH, indirect=True)
def test_restore_to_a_target_brings_back_every_byte_mode_and_owner(
    damaged: Served, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    damaged.cli("restore", "--target", str(target))
    assert held(damaged.tree, target) == damaged.original
    assert_same_as_the_source(damaged.tree, target)


@pytest.mark.parametrize("served", [pytest.param(H5BP, id=H5BP.name)], indirect=True)
def test_a_target_receives_only_the_snapshots_files(damaged: Served, tmp_path: Path) -> None:
    target = tmp_path / "target"
    damaged.cli("restore", "--target", str(target))
    assert [path.name for path in target.iterdir()] == ["etc"]
    assert [path.name for path in (target / "etc").iterdir()] == ["nginx"]


@pytest.mark.parametrize("served", BOTH, indirect=True)
def test_restore_onto_the_host_reloads_nginx_and_it_serves_the_snapshot(damaged: Served) -> None:
    """The whole tree swapped in (the rogue server and its port gone), the key's mode back,
    nginx reloaded and verified by drtool, and serving the snapshot's site again."""
    report = json.loads(
        damaged.cli("--netns", damaged.nginx.namespace, "restore", "--yes", "--json").stdout
    )
    assert report["outcome"] == "applied and verified"
    assert held(damaged.tree, damaged.root) == damaged.original
    assert damaged.nginx.ask(expected=damaged.tree.answer) == damaged.tree.answer
    refused = "ConnectionRefusedError"
    assert damaged.nginx.ask(8080, "http", refused) == refused
    assert damaged.cli("diff", "latest").stdout.strip() == "no differences"


@pytest.mark.parametrize("served", BOTH, indirect=True)
def test_a_replacement_host_gets_the_tree_and_serves_it(served: Served, tmp_path: Path) -> None:
    """web-2, a fresh Debian host with nginx answering its stock site, takes web-1's snapshot
    by its id: the tree and its [files] land as they were on web-1, nginx reloads into it."""
    root = tmp_path / "web-2"
    install_fresh_debian(root)
    with serving(root, FRESH_ANSWER, 80, "http") as nginx:
        config = tmp_path / "drtool.toml"
        config.write_text(drtool_toml(served.tree, root))
        cli = Cli(
            {
                **served.cli.environment,
                "DRTOOL_ROOT": str(root),
                "DRTOOL_HOST": "web-2",
                "DRTOOL_CONFIG": str(config),
            }
        )
        restored = cli("--netns", nginx.namespace, "restore", served.snapshot, "--yes", "--json")
        assert json.loads(restored.stdout)["outcome"] == "applied and verified"
        assert held(served.tree, root) == served.original
        assert nginx.ask(expected=served.tree.answer) == served.tree.answer


@pytest.mark.parametrize("served", BOTH, indirect=True)
def test_a_drill_of_the_tree_passes(served: Served) -> None:
    report = json.loads(served.cli("drill", served.snapshot, "--json").stdout)
    assert report["outcome"] == "passed" and report["problems"] == []
    assert report["kinds"]["nginx"] == "restored and verified"
    if served.tree.files:
        assert report["kinds"]["files"] == "restored and verified"


@pytest.mark.parametrize("served", BOTH, indirect=True)
def test_check_read_data_verifies_every_object(served: Served) -> None:
    checked = served.cli("check", "--read-data").stdout
    assert "no problems found" in checked
