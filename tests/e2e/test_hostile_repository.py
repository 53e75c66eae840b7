"""A repository written by someone holding the passphrase (any host of the fleet): objects,
manifests, key files and links crafted with drtool's own format code or planted on disk.
Each is refused in one line with its exact exit code, and nothing is written on the host."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drtool.blob_lists import encode_lists, list_kind
from drtool.blobs import blob_id
from drtool.packs import PackWriter, pack_name
from drtool.repository import Repository
from drtool.snapshot import new_snapshot_id
from tests.conftest import Cli, cli_environment, fixed_passphrase, tree_listing
from tests.support.artifacts import new_record

MIB = 1024 * 1024


def open_repository(cli: Cli) -> Repository:
    from drtool.store.local import LocalStore

    return Repository.open(LocalStore(cli.environment["DRTOOL_REPO"]), fixed_passphrase())


def backup_id(cli: Cli) -> str:
    return json.loads(cli("backup", "--json").stdout)["id"]


def peak_rss_mib(cli: Cli, *arguments: str) -> tuple[float, int, str]:
    """Run drtool in a child of a fresh Python; return the child's peak RSS (VmHWM, as getrusage
    reports it for a waited-for child) in MiB, its exit status and its stderr on one line."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'drtool', *sys.argv[1:]],"
        " capture_output=True, text=True)\n"
        "print(done.stderr.strip().replace('\\n', ' '))\n"
        "print(done.returncode)\n"
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
    *said, code, peak = completed.stdout.strip().splitlines()
    return int(peak) / 1024, int(code), " ".join(said)


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
    peak, code, said = peak_rss_mib(
        cli, "restore", snapshot, "--only", "files", "--target", str(target)
    )
    assert code == 0, said
    assert (target / "srv/zero.img").stat().st_size == 500 * MIB
    assert peak < 200, f"restore peaked at {peak:.0f} MiB"


def test_an_object_larger_than_its_declared_size_is_refused(cli: Cli, tmp_path: Path) -> None:
    """A blob sealed with the repository's keys (as any host can) holding 64 MiB of zeros where
    its blob list declares 4 KiB: refused, nothing written."""
    cli("init")
    backup_id(cli)
    repository = open_repository(cli)
    manifest = repository.read_manifest(repository.snapshot_refs()[0])
    host, writer = manifest.host, PackWriter(repository.key, repository.repository_id, "web-1")
    id_key = repository.key.content_id_key(host)
    zeros = bytes(64 * MIB)
    sealed = writer.add("nginx", blob_id(id_key, "nginx", zeros), zeros)
    declared = dataclasses.replace(sealed, size=4096)
    lists = tuple(
        writer.add(list_kind("nginx"), blob_id(id_key, list_kind("nginx"), plaintext), plaintext)
        for plaintext in encode_lists([declared])
    )
    repository.store.put(pack_name(writer.pack_id), [writer.finish()])
    bomb = dataclasses.replace(manifest.artifact("nginx"), lists=lists, size=4096)
    snapshot = new_snapshot_id(datetime.now(UTC))
    repository.write_manifest(dataclasses.replace(manifest, id=snapshot, artifacts=(bomb,)))
    target = tmp_path / "target"
    for command in (
        ("restore", snapshot, "--target", str(target)),
        ("show", snapshot),
        ("diff", snapshot),
        ("check", "--read-data"),
    ):
        result = cli(*command, expect=14)
        assert "more than the 4096 expected" in result.stderr or "problem" in result.stderr
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


def _move_aside_and_link(path: Path, aside: Path) -> None:
    shutil.move(path, aside)
    path.symlink_to(aside)


def test_links_planted_in_a_repository_are_never_followed(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    snapshot = backup_id(cli)
    repository = Path(cli.environment["DRTOOL_REPO"])
    objects = sorted((repository / "packs").iterdir())  # the directories of the packs
    _move_aside_and_link(objects[0], tmp_path / "objects-aside")
    target = tmp_path / "target"
    for command in (("restore", snapshot, "--target", str(target)), ("check", "--read-data")):
        assert "never follows a link" in cli(*command, expect=14).stderr
    assert not target.exists()
    objects[0].unlink()
    shutil.move(tmp_path / "objects-aside", objects[0])
    (manifest,) = (repository / "snapshots/web-1").iterdir()
    _move_aside_and_link(manifest, tmp_path / "manifest-aside")
    for command in (
        ("snapshots",),
        ("check",),
        ("restore", snapshot, "--target", str(target)),
        ("forget", "--keep-last", "1"),
    ):
        assert "never follows a link" in cli(*command, expect=14).stderr
    manifest.unlink()
    shutil.move(tmp_path / "manifest-aside", manifest)
    (repository / "snapshots/web-2").symlink_to(repository / "snapshots/web-1")
    assert "never follows a link" in cli("check", expect=14).stderr
    assert not target.exists()


@pytest.mark.parametrize(
    "planted",
    ["snapshots/web-1/20250107T000000Z-0011aabb/nested", "snapshots/web-1/not-an-id"],
)
def test_a_stray_name_under_snapshots_is_a_one_line_error(cli: Cli, planted: str) -> None:
    cli("init")
    cli("backup")
    stray = Path(cli.environment["DRTOOL_REPO"]) / planted
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"junk")
    commands = (("snapshots",), ("check",), ("restore", "--dry-run"), ("forget", "--keep-last=1"))
    for command in commands:
        assert "not a snapshot's name" in cli(*command, expect=14).stderr


def _hostile_snapshot(cli: Cli, kind: str, part: bytes, roots: tuple[str, ...]) -> str:
    """Store ``part`` as the only part of ``kind`` in a new snapshot of web-1, written with
    drtool's own format code as any host holding the passphrase can; return its id."""
    repository = open_repository(cli)
    base = repository.read_manifest(repository.snapshot_refs()[0])
    record = new_record(repository, base.host, kind, roots, part, entries=1)
    snapshot_id = new_snapshot_id(datetime.now(UTC))
    repository.write_manifest(dataclasses.replace(base, id=snapshot_id, artifacts=(record,)))
    return snapshot_id


@pytest.mark.parametrize("mtime", ["12abc", "1e9", "99999999999999999999", "nan"])
def test_a_malformed_pax_mtime_is_a_one_line_error(cli: Cli, tmp_path: Path, mtime: str) -> None:
    cli("init")
    cli("backup")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("etc/nginx")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        info.pax_headers = {"mtime": mtime}
        archive.addfile(info)
    snapshot = _hostile_snapshot(cli, "nginx", buffer.getvalue(), ("etc/nginx",))
    target = tmp_path / "target"
    for command in (
        ("restore", snapshot, "--target", str(target)),
        ("show", snapshot),
        ("diff", snapshot),
    ):
        assert "modification time" in cli(*command, expect=15).stderr
    assert not target.exists()


def test_a_part_that_is_no_tar_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    snapshot = _hostile_snapshot(cli, "nginx", b"not a tar at all" * 64, ("etc/nginx",))
    for command in (("restore", snapshot, "--target", str(tmp_path / "t")), ("show", snapshot)):
        assert "not a valid tar" in cli(*command, expect=15).stderr


def test_a_part_writing_a_path_twice_is_refused_before_the_host_changes(
    cli: Cli, sample_root: Path
) -> None:
    """A snapshot whose nginx part holds nginx.conf twice (the second time as a directory):
    the install would fail midway and roll back; the staging check refuses it in one line."""
    cli("init")
    cli("backup")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, kind in [("etc/nginx", tarfile.DIRTYPE), ("etc/nginx/nginx.conf", b"0")]:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, 0o755
            archive.addfile(info)
        info = tarfile.TarInfo("etc/nginx/nginx.conf")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(info)
    snapshot = _hostile_snapshot(cli, "nginx", buffer.getvalue(), ("etc/nginx",))
    before = tree_listing(sample_root)
    for command in (("restore", snapshot, "--only", "nginx", "--yes"), ("show", snapshot)):
        refused = cli(*command, expect=15).stderr
        assert (
            refused
            == "drtool: error: archive entry 'etc/nginx/nginx.conf' comes twice; nothing written\n"
        )
    assert tree_listing(sample_root) == before
