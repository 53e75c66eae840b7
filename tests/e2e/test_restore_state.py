"""drtool's own state on the host (the journal, its lock, the staged snapshot, the rollback
point) is private whatever the umask, and --resume trusts none of it: every staged entry is
checked again (issue 10)."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import Cli, owned_listing


@contextmanager
def umask(value: int) -> Iterator[None]:
    """drtool runs (a subprocess inherits it) under ``value``."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def modes(directory: Path) -> dict[str, int]:
    return {
        path.relative_to(directory).as_posix(): path.lstat().st_mode & 0o7777
        for path in [directory, *directory.rglob("*")]
    }


def test_state_is_private_under_umask_000_and_resume_rechecks_the_staged_copy(
    cli: Cli, tmp_path: Path
) -> None:
    cli("init")
    cli("backup")
    root = Path(cli.environment["DRTOOL_ROOT"])
    before = owned_listing(root)
    with umask(0):
        cli.restore_killed_at("applied nginx")
    state = root / "var/lib/drtool"
    found = modes(state)
    assert "restore/staged/fail2ban-0000.tar" in found and "restore/lock" in found
    assert "restore/rollback/nginx-0000.tar" in found and "restore/journal.json" in found
    for name, mode in found.items():
        assert mode == (0o700 if (state / name).is_dir() else 0o600), (name, oct(mode))
    assert (root / "var").stat().st_mode & 0o777 == 0o755
    assert (root / "var/lib").stat().st_mode & 0o777 == 0o755

    # A staged tar changed on disk since it was checked: an entry climbing out of the root.
    escape = "etc/fail2ban/../../../escaped"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        member = tarfile.TarInfo(escape)
        member.size = 4
        archive.addfile(member, io.BytesIO(b"pwnd"))
    (state / "restore/staged/fail2ban-0000.tar").write_bytes(buffer.getvalue())
    with umask(0):
        refused = cli("restore", "--resume", "--yes", expect=15)
    assert "not a safe relative path" in refused.stderr
    assert not (tmp_path / "escaped").exists()
    assert not (root / "escaped").exists()
    # Still unfinished, and the rollback point (checked the same way) brings the host back.
    with umask(0):
        cli("restore", "--rollback", "--yes")
    assert owned_listing(root) == before


def test_a_target_receives_only_the_snapshots_files(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    target = tmp_path / "look"
    cli("restore", "--target", str(target))
    assert sorted(path.name for path in target.iterdir()) == ["etc"]
    assert sorted(path.name for path in (target / "etc").iterdir()) == [
        "fail2ban",
        "nginx",
        "postgresql",
        "redis",
        "wireguard",
    ]


def test_a_configured_path_that_does_not_exist_is_named_at_backup(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "drtool.toml"
    config.write_text('[files]\npaths = ["/etc/redis/redis.conf", "/etc/app/missing.conf"]\n')
    configured = Cli({**cli.environment, "DRTOOL_CONFIG": str(config)})
    configured("init")
    warned = configured("backup")
    assert warned.stderr.splitlines() == [
        "drtool: files: /etc/app/missing.conf does not exist: not in this snapshot"
    ]
