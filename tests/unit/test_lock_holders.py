"""Who counts as holding a lock: a holder on this host whose process is gone keeps nothing out
(a backup killed mid-way), a live one does, and so does another host's (its pids mean nothing
here); a lock written before heartbeats (no refresh time) counts from its creation.

Whether a process lives is asked with a real signal 0 to real processes: children of the test,
a pid beyond any pid_max, pid 1 of a PID namespace of its own, and a process of another user.
No test names a process it did not start: a broken check could signal it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import drtool
from drtool.errors import ObjectMissing, RepositoryLocked
from drtool.lock import LOCK_NAME, SHARED_PREFIX, STALE_AFTER, exclusive_lock, shared_lock
from drtool.store.local import LocalStore
from tests.support.locks import NOON, at, holder

GONE = 2**22 + 7  # above the largest pid_max Linux allows: never a live process
SHARED = f"{SHARED_PREFIX}/0123456789abcdef"
A_MINUTE_AGO = "2025-01-07T11:59:00.000000Z"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "repo")


@pytest.fixture
def backup() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host, standing for a running backup."""
    child = subprocess.Popen(["sleep", "300"])
    yield child
    child.kill()
    child.wait()


def lock_body(host: str, pid: int, **times: str) -> bytes:
    times = times or {"created": A_MINUTE_AGO, "refreshed": A_MINUTE_AGO}
    return json.dumps({"purpose": "backup", "host": host, "pid": pid, **times}).encode()


def running(pid: int, host: str = "web-1") -> str:
    """A prune's refusal beside a backup."""
    return (
        f"backup on {host} (pid {pid}) is running; try again when it is done "
        "(--retry-lock DURATION)"
    )


@pytest.mark.parametrize(
    ("host", "alive", "kept"),
    [("web-1", False, False), ("web-1", True, True), ("web-2", False, True)],
    ids=["this host, process gone", "this host, process alive", "another host"],
)
def test_a_backup_keeps_a_prune_out_until_its_process_is_gone_from_this_host(
    store: LocalStore,
    backup: subprocess.Popen[bytes],
    caplog: pytest.LogCaptureFixture,
    host: str,
    alive: bool,
    kept: bool,
) -> None:
    pid = backup.pid if alive else GONE
    store.put_new(SHARED, lock_body(host, pid))
    if kept:
        with (
            pytest.raises(RepositoryLocked) as refused,
            exclusive_lock(store, "prune", "web-1", clock=at(NOON)),
        ):
            pytest.fail("the prune ran beside a backup")
        assert str(refused.value) == running(pid, host)
        assert list(store.list("locks")) == [SHARED]
    else:
        with exclusive_lock(store, "prune", "web-1", clock=at(NOON)):
            assert list(store.list(SHARED_PREFIX)) == []
        assert f"removing a stale or unreadable shared lock {SHARED}" in caplog.messages
    if alive:
        with pytest.raises(subprocess.TimeoutExpired):
            backup.wait(timeout=0.5)  # asking whether it lives sent it no signal


@pytest.mark.parametrize(("alive", "kept"), [(False, False), (True, True)])
def test_a_backup_is_kept_out_while_a_prune_of_this_host_lives(
    store: LocalStore, backup: subprocess.Popen[bytes], alive: bool, kept: bool
) -> None:
    pid = backup.pid if alive else GONE
    store.put_new(LOCK_NAME, lock_body("web-1", pid))
    if kept:
        with (
            pytest.raises(
                RepositoryLocked,
                match=rf"^the repository is locked by backup on web-1 \(pid {pid}\)",
            ),
            shared_lock(store, "backup", "web-1", clock=at(NOON)),
        ):
            pytest.fail("the backup ran beside a prune")
    else:
        with shared_lock(store, "backup", "web-1", clock=at(NOON)):
            assert holder(store)["pid"] == GONE, "a backup leaves the exclusive lock alone"
    assert list(store.list("locks")) == [LOCK_NAME]


@pytest.mark.parametrize("kind", ["exclusive", "shared"])
def test_a_lock_written_before_heartbeats_counts_from_its_creation(
    store: LocalStore, kind: str
) -> None:
    """An older drtool wrote no ``refreshed``: its lock is still fresh for an hour after it was
    made, then stale."""
    name = LOCK_NAME if kind == "exclusive" else SHARED
    store.put_new(name, lock_body("web-2", GONE, created=A_MINUTE_AGO))
    with (
        pytest.raises(RepositoryLocked, match=r"backup on web-2 \(pid 4194311\)"),
        exclusive_lock(store, "prune", "web-1", clock=at(NOON)),
    ):
        pytest.fail("the prune ran beside an older drtool's lock")
    later = at(NOON + STALE_AFTER)
    with exclusive_lock(store, "prune", "web-1", clock=later):
        assert holder(store)["host"] == "web-1"
        assert list(store.list(SHARED_PREFIX)) == []


class Withdrawing(LocalStore):
    """A store whose stale shared lock is withdrawn by its own backup just before our delete,
    and says so (a versioned bucket answers 404 for the version that just went)."""

    def delete(self, name: str) -> None:
        super().delete(name)
        if name.startswith(SHARED_PREFIX):
            raise ObjectMissing(f"{name} is missing from the repository")


def test_a_stale_shared_lock_that_goes_while_being_removed_is_no_error(tmp_path: Path) -> None:
    store = Withdrawing(tmp_path / "repo")
    store.put_new(SHARED, lock_body("web-1", GONE))
    with exclusive_lock(store, "prune", "web-1", clock=at(NOON)):
        assert list(store.list("locks")) == [LOCK_NAME]
    assert list(store.list("locks")) == []


def prune_elsewhere(store: LocalStore, *prefix: str) -> subprocess.CompletedProcess:
    """A prune of web-1 at noon, in a new Python (run under ``prefix``) importing this drtool,
    in a session of its own (a signal to its process group reaches nothing else); it prints
    "ran" or why it was refused."""
    code = (
        "import datetime\n"
        "from drtool.errors import RepositoryLocked\n"
        "from drtool.lock import exclusive_lock\n"
        "from drtool.store.local import LocalStore\n"
        f"noon = datetime.datetime.fromisoformat({NOON.isoformat()!r})\n"
        f"store = LocalStore({str(store.path)!r})\n"
        "try:\n"
        "    with exclusive_lock(store, 'prune', 'web-1', clock=lambda: noon):\n"
        "        print('ran')\n"
        "except RepositoryLocked as error:\n"
        "    print(error)\n"
    )
    source = Path(drtool.__file__).resolve().parents[1]
    return subprocess.run(
        [*prefix, sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
        check=False,
    )


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="a PID namespace and dropping CAP_KILL need root"
)


@needs_root
def test_pid_1_of_a_namespace_lives_and_pid_0_names_no_process(
    tmp_path: Path, backup: subprocess.Popen[bytes]
) -> None:
    """A backup that is its container's init (pid 1) keeps a prune of the same PID namespace
    out, as a backup of this namespace (a child of the test) keeps out a prune here; a lock
    naming pid 0 (the caller's own process group, never a holder) keeps nothing out."""
    here = LocalStore(tmp_path / "here")
    here.put_new(SHARED, lock_body("web-1", backup.pid))
    with (
        pytest.raises(RepositoryLocked) as refused,
        exclusive_lock(here, "prune", "web-1", clock=at(NOON)),
    ):
        pytest.fail("the prune ran beside a backup")
    assert str(refused.value) == running(backup.pid)
    there = LocalStore(tmp_path / "there")
    there.put_new(f"{SHARED_PREFIX}/0000000000000000", lock_body("web-1", 0))
    there.put_new(f"{SHARED_PREFIX}/1111111111111111", lock_body("web-1", 1))
    done = prune_elsewhere(there, "unshare", "--pid", "--fork")
    assert (done.returncode, done.stdout) == (0, running(1) + "\n")
    assert done.stderr == (
        f"removing a stale or unreadable shared lock {SHARED_PREFIX}/0000000000000000\n"
    )
    assert list(there.list("locks")) == [f"{SHARED_PREFIX}/1111111111111111"]


@needs_root
def test_a_live_backup_the_prune_may_not_signal_keeps_it_out(store: LocalStore) -> None:
    """A backup of another user keeps out a prune that may signal it (this test's, as root) and
    one that may not (no CAP_KILL): signal 0 is refused (EPERM), yet the backup lives."""
    backup = subprocess.Popen(["sleep", "300"], user=65534, group=65534)
    try:
        store.put_new(SHARED, lock_body("web-1", backup.pid))
        with (
            pytest.raises(RepositoryLocked) as refused,
            exclusive_lock(store, "prune", "web-1", clock=at(NOON)),
        ):
            pytest.fail("the prune ran beside a backup")
        assert str(refused.value) == running(backup.pid)
        done = prune_elsewhere(store, "setpriv", "--bounding-set", "-kill", "--inh-caps", "-kill")
        assert (done.returncode, done.stdout, done.stderr) == (0, running(backup.pid) + "\n", "")
        assert list(store.list("locks")) == [SHARED]
    finally:
        backup.kill()
        backup.wait()
