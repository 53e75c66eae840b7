"""Shared fixtures: sample host roots and repositories, built for real on disk."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drtool.keys import KdfParameters
from drtool.passphrase import PassphraseSource
from drtool.repository import Repository, init_repository
from drtool.store.local import LocalStore
from drtool.testpoint import VARIABLE as TESTPOINT
from tests.support.real_parts import require

pytest_plugins = [
    "tests.support.s3",
    "tests.support.netns",
    "tests.support.dockerd",
    "tests.support.xdist_groups",
]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PASSPHRASE = "correct horse battery staple"
# Tests that do not exercise the KDF itself use cheap parameters; so does the CLI the tests run
# (tests/support/fast_kdf.py), unless a test asks for the defaults (Cli.fast_kdf).
FAST_KDF = KdfParameters(iterations=1, lanes=1, memory_kib=8 * 1024)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.real_parts(...)``: skipped without them, a failure under CI."""
    for marker in item.iter_markers("real_parts"):
        require(*marker.args)


def fixed_passphrase(secret: str = PASSPHRASE) -> PassphraseSource:
    return PassphraseSource("test", lambda _confirm: secret.encode())


def copy_sample_host(root: Path) -> Path:
    """A copy of the sample host of examples/host at ``root``, with the modes git does not keep
    (times kept: every copy is the same host, file for file)."""
    shutil.copytree(EXAMPLES / "host", root, symlinks=True)
    (root / "etc/wireguard").chmod(0o700)
    (root / "etc/wireguard/wg0.conf").chmod(0o600)
    return root


FORMAT1_FIXTURE = Path(__file__).resolve().parent / "data" / "format1"


@pytest.fixture
def format1_repository(tmp_path: Path) -> Repository:
    """An empty repository of format 1 (the config and key file format-1 drtool wrote, from
    tests/data/format1), opened: backups into it take format 1's write path."""
    for name in ("config", "keys"):
        source, copy = FORMAT1_FIXTURE / "repository" / name, tmp_path / "format1-repo" / name
        copy.parent.mkdir(exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy)
    store = LocalStore(tmp_path / "format1-repo")
    return Repository.open(store, fixed_passphrase("format one fixture"))


@pytest.fixture
def sample_root(tmp_path: Path) -> Path:
    return copy_sample_host(tmp_path / "host")


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    store = LocalStore(tmp_path / "repo")
    init_repository(store, fixed_passphrase(), FAST_KDF)
    return Repository.open(store, fixed_passphrase())


@pytest.fixture
def packed(repository: Repository) -> Repository:
    """A new repository: format 2, its artifacts stored as blobs in packs."""
    assert repository.format == 2
    return repository


# drtool's memory on a host (the snapshots it has seen, its files cache) and their parents: a
# command reading a snapshot may update it, which changes nothing of the host's configuration.
DRTOOL_MEMORY = ("var/lib/drtool/seen", "var/lib/drtool/cache")
_MEMORY_PARENTS = ("var", "var/lib", "var/lib/drtool")


def tree_listing(root: Path) -> dict[str, tuple]:
    """Everything restore must keep: type, mode, owner, mtime, content or link target (all but
    drtool's own memory, DRTOOL_MEMORY)."""
    listing = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory, name)
            relative = path.relative_to(root).as_posix()
            if relative in _MEMORY_PARENTS or relative.startswith(DRTOOL_MEMORY):
                continue
            status = path.lstat()
            if path.is_symlink():
                content: object = ("link", os.readlink(path))
            elif path.is_dir():
                content = ("dir",)
            else:
                content = ("file", path.read_bytes())
            listing[path.relative_to(root).as_posix()] = (
                content,
                status.st_mode,
                status.st_uid,
                status.st_gid,
                status.st_mtime_ns,
            )
    return listing


SAMPLE_ROOTS = (
    "etc/nginx",
    "etc/wireguard",
    "etc/fail2ban",
    "etc/postgresql/15/main/pg_hba.conf",
    "etc/redis/redis.conf",
)


def owned_listing(root: Path) -> dict[str, tuple]:
    """tree_listing of what drtool owns on the sample host (not the parents, whose mtimes
    change whenever anything is renamed inside them)."""
    listing = {}
    for owned in SAMPLE_ROOTS:
        path = root / owned
        if path.is_dir():
            listing.update({f"{owned}/{k}": v for k, v in tree_listing(path).items()})
        status = path.lstat()
        content = path.read_bytes() if path.is_file() else None
        listing[owned] = (content, status.st_mode, status.st_uid, status.st_gid, status.st_mtime_ns)
    return listing


@dataclass
class Cli:
    """Runs drtool exactly as an operator types it, in a subprocess (after ``wrapper``, when
    given: ``ip netns exec NS``, ``faketime -f +3d``)."""

    environment: dict[str, str]
    wrapper: tuple[str, ...] = ()
    fast_kdf: bool = True  # key files it writes ask a cheap Argon2id (tests/support/fast_kdf.py)
    module: str | None = None  # another build of drtool (tests/support/attacker_drtool.py)

    @property
    def command(self) -> list[str]:
        """``python -m drtool``, or its cheap-KDF twin, or ``module``."""
        module = self.module or ("tests.support.fast_kdf" if self.fast_kdf else "drtool")
        return [sys.executable, "-m", module]

    def __call__(
        self, *arguments: str, expect: int = 0, one_line: bool = True
    ) -> subprocess.CompletedProcess[str]:
        completed = self.run(*arguments)
        assert completed.returncode == expect, (
            f"drtool {' '.join(arguments)} exited {completed.returncode}, expected {expect}\n"
            f"stdout: {completed.stdout}\nstderr: {completed.stderr}"
        )
        if expect != 0 and one_line:
            lines = completed.stderr.strip().splitlines()
            assert len(lines) == 1, f"expected a one-line error, got: {completed.stderr!r}"
            assert "Traceback" not in completed.stderr
        return completed

    def run(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``drtool ARGUMENTS``, whatever its exit status (the caller judges it)."""
        return subprocess.run(
            [*self.wrapper, *self.command, *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )

    def paused_at(self, point: str, *arguments: str) -> subprocess.Popen[str]:
        """``drtool ARGUMENTS`` started and held (SIGSTOP, by drtool/testpoint.py) at the test
        point ``point``. The caller sends SIGCONT, and kills it in a ``finally``."""
        process = subprocess.Popen(
            [*self.command, *arguments],
            env={**self.environment, TESTPOINT: f"{point}:stop"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while process_state(process.pid) != "T":
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"drtool {' '.join(arguments)} never reached {point}")
            time.sleep(0.05)
        return process

    def restore_killed_at(self, step: str, *arguments: str) -> None:
        """``drtool restore --yes``, killed (SIGKILL) by the test seam (drtool/testpoint.py) at
        the journal step ``step``, as a crash or a dropped session would."""
        killed = Cli({**self.environment, TESTPOINT: f"restore:{step}"}, fast_kdf=self.fast_kdf)
        killed("restore", "--yes", *arguments, expect=-9, one_line=False)


def process_state(pid: int) -> str:
    """The state letter of a process (``T``: stopped), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def cli_environment(directory: Path, root: Path, config: Path) -> dict[str, str]:
    """drtool's environment for the host at ``root``: none of the caller's DRTOOL_ settings, a
    repository and a 0600 passphrase file in ``directory``, the host web-1."""
    password_file = directory / "passphrase"
    password_file.write_text(PASSPHRASE + "\n")
    password_file.chmod(0o600)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DRTOOL_")}
    environment.update(
        DRTOOL_REPO=str(directory / "repo"),
        DRTOOL_ROOT=str(root),
        DRTOOL_HOST="web-1",
        DRTOOL_CONFIG=str(config),
        DRTOOL_PASSWORD_FILE=str(password_file),
    )
    return environment


@pytest.fixture
def cli(tmp_path: Path, sample_root: Path) -> Iterator[Cli]:
    yield Cli(cli_environment(tmp_path, sample_root, EXAMPLES / "drtool.toml"))


@pytest.fixture(scope="session")
def backed_up_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository `drtool init` then `drtool backup` of the sample host make, through the
    CLI, once per session."""
    directory = tmp_path_factory.mktemp("backed-up")
    root = copy_sample_host(directory / "host")
    made = Cli(cli_environment(directory, root, EXAMPLES / "drtool.toml"))
    made("init")
    made("backup")
    return directory / "repo"


@pytest.fixture
def backed_up(cli: Cli, backed_up_repository: Path) -> Cli:
    """``cli`` after `drtool init` and `drtool backup` of its host: a copy of the session's
    repository (the sample host is the same in every test, file for file), which spares each
    test two cold starts and a key derivation."""
    shutil.copytree(backed_up_repository, cli.environment["DRTOOL_REPO"], symlinks=True)
    return cli


def signalled(process: subprocess.Popen[str], signal_number: int) -> str:
    """Send ``signal_number`` to ``process`` (held at a test point: ``Cli.paused_at``), let it
    go on, and return its standard error once it has ended; it is killed in any case."""
    try:
        process.send_signal(signal_number)
        process.send_signal(signal.SIGCONT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return stderr
