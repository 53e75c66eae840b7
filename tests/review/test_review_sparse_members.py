"""Review of issue 10: a tar member that expands without decompressing.

A GNU sparse member (``tar --sparse``) stores a map instead of zeros: a part of a few kilobytes,
whose decompressed size is honestly declared, holds a member that tarfile reads back as
gigabytes of zeros. drtool bounds decompression by the declared size, but then reads command
outputs whole (StagedArtifact.outputs, at staging, for every command that stages) and writes
files whole. The part is written with drtool's own format code, as any host of the fleet can.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from drtool.archive import OUTPUT_PREFIX
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository, peak_rss_mib
from tests.support.hostile import rewritten

MIB = 1024 * 1024
EXPANDED = 768 * MIB


def _sparse_part(original: bytes, directory: Path, member: str) -> bytes:
    """``original`` (a part's tar) with ``member`` appended: a sparse file of EXPANDED bytes."""
    part = directory / "part.tar"
    part.write_bytes(original)
    tree = directory / "tree"
    sparse = tree / member
    sparse.parent.mkdir(parents=True)
    with sparse.open("wb") as handle:
        handle.truncate(EXPANDED)
    subprocess.run(
        [
            "tar",
            "--format=pax",
            "--sparse",
            "-rf",
            str(part),
            "-C",
            str(directory / "tree"),
            member,
        ],
        check=True,
    )
    return part.read_bytes()


def _hostile_snapshot(cli: Cli, tmp_path: Path, member: str) -> str:
    """A snapshot of the sample host whose nginx part also holds the sparse ``member``."""
    cli("init")
    cli("backup")

    def crafted(original: bytes) -> bytes:
        part = _sparse_part(original, tmp_path, member)
        assert len(part) < 1 * MIB  # what the repository stores and declares: small
        return part

    return rewritten(open_repository(cli), "nginx", crafted).id


@pytest.mark.slow
def test_a_sparse_output_member_keeps_memory_flat(cli: Cli, tmp_path: Path) -> None:
    snapshot = _hostile_snapshot(cli, tmp_path, f"{OUTPUT_PREFIX}huge")
    peak, _, said = peak_rss_mib(cli, "show", snapshot)
    assert peak < 200, f"show peaked at {peak:.0f} MiB ({said})"


@pytest.mark.slow
def test_a_sparse_file_member_is_refused(cli: Cli, tmp_path: Path) -> None:
    snapshot = _hostile_snapshot(cli, tmp_path, "etc/nginx/huge")
    target = tmp_path / "target"
    restored = cli.run("restore", snapshot, "--target", str(target), timeout=600)
    written = (
        sum(path.stat().st_blocks * 512 for path in target.rglob("*") if path.is_file())
        if target.exists()
        else 0
    )
    assert written < 64 * MIB, f"{written // MIB} MiB written ({restored.stderr.strip()})"
