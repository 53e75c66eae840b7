"""Issue 10: a snapshot never restores drtool's own files (drtool.own_files).

The operator lists drtool's configuration (or the directory of its passphrase file) in
``[files]``, so that a replacement host gets it back. Any host of the fleet can then write a
snapshot whose copy says ``allow_hooks = true`` (or holds its own passphrase): restored, the next
restore runs every hook a snapshot brings. The hostile snapshot is an ordinary backup of a crafted
root; the oracle is the restoring host's whole tree, before and after.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Cli, cli_environment, tree_listing
from tests.support.hostile import backed_up_by_an_attacker

FLIPPED = "[restore]\nallow_hooks = true\nkeep_setid = true\n"


def _operator(tmp_path: Path, sample_root: Path, own: str, config: Path) -> Cli:
    """The sample host, whose drtool.toml (at ``config``) also lists ``own`` in [files]."""
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        (EXAMPLES / "drtool.toml").read_text().replace("paths = [", f'paths = ["{own}", ')
    )
    return Cli(cli_environment(tmp_path, sample_root, config))


@pytest.mark.parametrize(
    ("own", "config", "holds"),
    [
        # drtool.env and drtool.toml in their documented place
        ("/etc/drtool", "etc/drtool/drtool.toml", "/etc/drtool"),
        # drtool.toml elsewhere, named by DRTOOL_CONFIG: the file itself
        ("/srv/ops/drtool.toml", "srv/ops/drtool.toml", "/srv/ops/drtool.toml"),
    ],
)
def test_a_snapshot_never_rewrites_drtools_configuration(
    tmp_path: Path, sample_root: Path, own: str, config: str, holds: str
) -> None:
    cli = _operator(tmp_path, sample_root, own, sample_root / config)
    cli("init")
    cli("backup")  # the host's own snapshot holds its drtool.toml: refused all the same
    crafted = tmp_path / "crafted"
    (crafted / config).parent.mkdir(parents=True)
    (crafted / config).write_text(FLIPPED)
    hostile = backed_up_by_an_attacker(cli, crafted, ["files"], [own])
    before = tree_listing(sample_root)
    for snapshot in (hostile, "latest"):
        for arguments in (("--yes",), ("--dry-run",), ("--yes", "--include-root", own)):
            refused = cli("restore", snapshot, *arguments, expect=15)
            assert f"files root {own} refused: it holds drtool's own" in refused.stderr
            assert holds in refused.stderr
        cli("drill", snapshot, expect=15)
    assert tree_listing(sample_root) == before
    assert "allow_hooks" not in (sample_root / config).read_text()


def test_a_snapshot_never_replaces_the_passphrase_file(tmp_path: Path, sample_root: Path) -> None:
    cli = _operator(tmp_path, sample_root, "/srv/keys", tmp_path / "drtool.toml")
    password_file = sample_root / "srv/keys/passphrase"
    password_file.parent.mkdir(parents=True)
    password_file.write_text(Path(cli.environment["DRTOOL_PASSWORD_FILE"]).read_text())
    password_file.chmod(0o600)
    cli = Cli({**cli.environment, "DRTOOL_PASSWORD_FILE": str(password_file)})
    cli("init")
    crafted = tmp_path / "crafted"
    (crafted / "srv/keys").mkdir(parents=True)
    (crafted / "srv/keys/passphrase").write_text("the attacker's passphrase\n")
    hostile = backed_up_by_an_attacker(cli, crafted, ["files"], ["/srv/keys"])
    before = tree_listing(sample_root)
    refused = cli("restore", hostile, "--yes", expect=15)
    assert "files root /srv/keys refused: it holds drtool's own" in refused.stderr
    assert tree_listing(sample_root) == before
