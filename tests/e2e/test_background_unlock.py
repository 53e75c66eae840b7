"""Argon2id derived beside the command's work (drtool/opening.py) keeps every promise of an
unlock done first: a wrong passphrase is one line and exit 12 and changes nothing, neither the
repository nor the host (each compared byte for byte, file by file, with what was there); an
interrupted derivation unwinds at once (exit 130, or the process ended by SIGTERM), never waiting
for the derivation to finish."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

from drtool.keys import KdfParameters
from drtool.passphrase import PassphraseSource
from drtool.repository import init_repository
from drtool.store.local import LocalStore
from tests.conftest import Cli, process_state, signalled
from tests.e2e.test_cli import host_root

WRONG_PASSPHRASE = "drtool: error: wrong passphrase (no key file of the repository accepts it)\n"
# Seconds of Argon2id (512 MiB, 10 passes): far longer than an unwinding takes.
SLOW_KDF = KdfParameters(iterations=10, lanes=1, memory_kib=512 * 1024)


def every_file(root: Path) -> dict[str, tuple[int, int, str]]:
    """Each path under ``root``: its mode, mtime and the SHA-256 of its content (of its target,
    for a link): a file written again, even with the same bytes, changes its mtime."""
    listing = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory, name)
            status = path.lstat()
            if path.is_symlink():
                content = os.readlink(path).encode()
            elif path.is_file():
                content = path.read_bytes()
            else:
                content = b""
            digest = hashlib.sha256(content).hexdigest()
            listing[path.relative_to(root).as_posix()] = (
                status.st_mode,
                status.st_mtime_ns,
                digest,
            )
    return listing


def with_passphrase(cli: Cli, passphrase: str) -> Cli:
    environment = {k: v for k, v in cli.environment.items() if k != "DRTOOL_PASSWORD_FILE"}
    return Cli({**environment, "DRTOOL_PASSWORD": passphrase}, fast_kdf=cli.fast_kdf)


def test_a_backup_with_a_wrong_passphrase_writes_nothing_anywhere(backed_up: Cli) -> None:
    """The host changed since the last snapshot, so a backup would store a new pack and a
    manifest: with a wrong passphrase, the repository and the host (drtool's memory of them
    included) are as they were."""
    root, repository = host_root(backed_up), Path(backed_up.environment["DRTOOL_REPO"])
    (root / "etc/redis/redis.conf").write_text("port 6390\n")
    before = (every_file(repository), every_file(root))
    wrong = with_passphrase(backed_up, "not the passphrase")
    assert wrong("backup", expect=12).stderr == WRONG_PASSPHRASE
    assert (every_file(repository), every_file(root)) == before
    backed_up("backup")  # the control: the right passphrase writes
    assert every_file(repository) != before[0]


def test_a_restore_with_a_wrong_passphrase_changes_nothing_on_the_host(backed_up: Cli) -> None:
    root, repository = host_root(backed_up), Path(backed_up.environment["DRTOOL_REPO"])
    conf = root / "etc/redis/redis.conf"
    kept = conf.read_bytes()
    conf.write_text("port 6390\n")
    before = (every_file(repository), every_file(root))
    wrong = with_passphrase(backed_up, "not the passphrase")
    for arguments in (("restore", "--yes", "--only", "files"), ("restore", "latest", "--yes")):
        assert wrong(*arguments, expect=12).stderr == WRONG_PASSPHRASE
    assert (every_file(repository), every_file(root)) == before
    backed_up("restore", "--yes", "--only", "files")  # the control: the right one restores
    assert conf.read_bytes() == kept


def test_a_selection_error_comes_after_a_wrong_passphrase_as_before(backed_up: Cli) -> None:
    """The listing runs while the key is derived; a snapshot it cannot find is still reported
    after the passphrase is refused, not instead of it."""
    wrong = with_passphrase(backed_up, "not the passphrase")
    assert wrong("restore", "nosuch", "--yes", expect=12).stderr == WRONG_PASSPHRASE
    assert wrong("restore", "--date", "20200101", "--yes", expect=12).stderr == WRONG_PASSPHRASE
    assert "no snapshot" in backed_up("restore", "nosuch", "--yes", expect=13).stderr


def test_a_backup_interrupted_while_the_key_is_derived_exits_130_and_writes_nothing(
    backed_up: Cli,
) -> None:
    """Ctrl-C (SIGINT) with the derivation under way (held at its test point, on its own
    thread): exit 130, one line, nothing written to the repository."""
    repository = Path(backed_up.environment["DRTOOL_REPO"])
    (host_root(backed_up) / "etc/redis/redis.conf").write_text("port 6390\n")
    before = every_file(repository)
    process = backed_up.paused_at("unlock:deriving", "backup")
    stderr = signalled(process, signal.SIGINT)
    assert process.returncode == 130
    assert stderr.strip() == "drtool: interrupted"
    assert every_file(repository) == before


def test_a_command_terminated_during_a_long_derivation_ends_at_once(tmp_path: Path) -> None:
    """SIGTERM while Argon2id runs at a cost that takes seconds: the process ends by the signal
    in less than half the time one derivation at that cost takes (init's), so it did not wait
    for the derivation to finish."""
    started = time.monotonic()
    init_repository(
        LocalStore(tmp_path / "repo"), PassphraseSource("test", lambda _: b"slow"), SLOW_KDF
    )
    derivation = time.monotonic() - started
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DRTOOL_")}
    environment.update(DRTOOL_REPO=str(tmp_path / "repo"), DRTOOL_PASSWORD="slow")
    process = subprocess.Popen(
        [*Cli(environment).command, "snapshots"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Argon2id's 512 MiB in use: the derivation is under way (what /proc says, not drtool).
        while _resident_mib(process.pid) < 400:
            assert process.poll() is None and time.monotonic() < deadline, "never derived"
            time.sleep(0.02)
        assert process_state(process.pid) != "Z"
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode == -signal.SIGTERM
    assert stderr.strip() == "drtool: interrupted"
    assert took < derivation / 2, f"ended {took:.1f} s after SIGTERM: it waited for Argon2id"


def _resident_mib(pid: int) -> float:
    """The resident memory of process ``pid`` in MiB, from /proc (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
