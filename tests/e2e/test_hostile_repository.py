"""A repository written by someone holding the passphrase (any host of the fleet): objects,
manifests, key files and links crafted with drtool's own format code or planted on disk.
Each is refused in one line with its exact exit code, and nothing is written on the host."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from drtool import format as object_format
from drtool.format import Binding
from drtool.repository import Repository, object_name
from tests.conftest import Cli, cli_environment, fixed_passphrase

MIB = 1024 * 1024


def open_repository(cli: Cli) -> Repository:
    from drtool.store.local import LocalStore

    return Repository.open(LocalStore(cli.environment["DRTOOL_REPO"]), fixed_passphrase())


def backup_id(cli: Cli) -> str:
    return json.loads(cli("backup", "--json").stdout)["id"]


def peak_rss_mib(cli: Cli, *arguments: str) -> float:
    """Run drtool in a child of a fresh Python and return the child's peak RSS (VmHWM, as
    getrusage reports it for a waited-for child), in MiB."""
    probe = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run([sys.executable, '-m', 'drtool', *sys.argv[1:]]).returncode\n"
        "assert code == 0, code\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe, *arguments],
        env=cli.environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return int(completed.stdout.split()[-1]) / 1024


@pytest.mark.slow
def test_a_500_mib_file_restores_in_flat_memory(tmp_path: Path, sample_root: Path) -> None:
    big = sample_root / "srv/zero.img"
    big.parent.mkdir()
    with big.open("wb") as handle:
        handle.truncate(500 * MIB)
    config = tmp_path / "drtool.toml"
    config.write_text('[files]\npaths = ["/srv/zero.img"]\n')
    cli = Cli(cli_environment(tmp_path, sample_root, config))
    cli("init")
    snapshot = backup_id(cli)
    target = tmp_path / "target"
    peak = peak_rss_mib(cli, "restore", snapshot, "--only", "files", "--target", str(target))
    assert (target / "srv/zero.img").stat().st_size == 500 * MIB
    assert peak < 200, f"restore peaked at {peak:.0f} MiB"


def test_an_object_larger_than_its_declared_size_is_refused(cli: Cli, tmp_path: Path) -> None:
    """A part re-encrypted with the repository's key (as any host can) holding 64 MiB of zeros
    where the manifest declares a few kilobytes: refused, nothing written."""
    cli("init")
    snapshot = backup_id(cli)
    repository = open_repository(cli)
    manifest = repository.read_manifest(repository.snapshot_refs()[0])
    part = manifest.artifact("nginx").parts[0]
    bomb = object_format.encrypt(
        repository.key, Binding.artifact_part(part.id, "nginx"), io.BytesIO(bytes(64 * MIB))
    )
    repository.store.put(object_name(part.id), bomb)
    target = tmp_path / "target"
    for command in (
        ("restore", snapshot, "--target", str(target)),
        ("show", snapshot),
        ("diff", snapshot),
        ("check", "--read-data"),
    ):
        result = cli(*command, expect=14)
        assert "past its declared size" in result.stderr or "problem" in result.stderr
    assert not target.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("iterations", 10_000_000), ("memory_kib", 64 * 1024 * 1024), ("lanes", 1000)],
)
def test_a_key_file_asking_for_a_huge_kdf_cost_is_refused(cli: Cli, field: str, value: int) -> None:
    """Every command would hang (or exhaust memory) deriving it: refused before deriving."""
    cli("init")
    repository = Path(cli.environment["DRTOOL_REPO"])
    (key_path,) = (repository / "keys").iterdir()
    document = json.loads(key_path.read_text())
    document["kdf"][field] = value
    key_path.write_text(json.dumps(document))
    result = cli("snapshots", expect=12)
    assert f"{key_path.name} refused" in result.stderr and "at most 10 passes" in result.stderr
