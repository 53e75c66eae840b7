"""Review of issue 10, end to end: a WireGuard PostUp the hook reader misses runs as root.

The snapshot's wg0.conf has its PostUp in a second, lower-case ``[interface]`` section (wg-quick
matches section names in any case); the snapshot says wg0 was up (its metadata, written with
drtool's own format code), so the restore brings it up with wg-quick, in the namespace the
test made, and wg-quick runs the PostUp.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli, cli_environment
from tests.e2e.test_hostile_repository import open_repository
from tests.support.hostile import rewritten
from tests.support.netns import netns  # noqa: F401 - the fixture


def _key() -> str:
    return subprocess.run(
        ["wg", "genkey"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


def _public(private: str) -> str:
    return subprocess.run(
        ["wg", "pubkey"], input=private, capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


@pytest.mark.slow
@pytest.mark.real_parts("wireguard", "netns")
def test_a_postup_in_a_lower_case_section_never_runs(
    tmp_path: Path,
    netns: str,  # noqa: F811
) -> None:
    marker = tmp_path / "postup-ran"
    root = tmp_path / "host"
    wireguard = root / "etc/wireguard"
    wireguard.mkdir(parents=True, mode=0o700)
    config = wireguard / "wg0.conf"
    config.write_text(
        f"[Interface]\nPrivateKey = {_key()}\nAddress = 10.9.0.1/24\n"
        f"[Peer]\nPublicKey = {_public(_key())}\nAllowedIPs = 10.9.0.2/32\n"
        f"[interface]\nPostUp = touch {marker}\n"
    )
    config.chmod(0o600)
    settings = tmp_path / "drtool.toml"
    settings.write_text('[backup]\nkinds = ["wireguard"]\n')
    cli = Cli(cli_environment(tmp_path, root, settings))
    cli("init")
    cli("backup")
    hostile = rewritten(
        open_repository(cli),
        "wireguard",
        edit_record=lambda record: dataclasses.replace(
            record, metadata={**record.metadata, "up": ["wg0"]}
        ),
    )
    restored = cli.run("--netns", netns, "restore", hostile.id, "--yes")
    try:
        assert not marker.exists(), f"exit {restored.returncode}: {restored.stdout.strip()}"
    finally:
        subprocess.run(
            ["ip", "netns", "exec", netns, "ip", "link", "del", "wg0"],
            capture_output=True,
            timeout=30,
            check=False,
        )
