"""fail2ban for real: Debian's configuration in a sandbox root, a server with its own socket,
pid and database running inside a test namespace, validated, restored into, reloaded, pinged."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.errors import RestoreRolledBack, ValidationRefused
from drtool.host import Host
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from tests.support.netns import run_in
from tests.support.services import Fail2ban

pytestmark = pytest.mark.real_parts("fail2ban", "netns", "iptables")


@dataclass
class Sandbox(Fail2ban):
    def settings(self) -> Settings:
        return Settings(kinds=("fail2ban",), services={"fail2ban": self.service()})

    def host(self) -> Host:
        return Host(self.root, "web-1", Runner(netns=self.namespace))


@pytest.fixture
def sandbox(tmp_path: Path, netns: str) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "host", netns)
    box.start()
    try:
        yield box
    finally:
        box.stop()


def jails(sandbox: Sandbox) -> str:
    return sandbox.client("status")


@pytest.mark.slow
def test_restore_reloads_fail2ban_keeps_its_bans_and_it_answers(
    repository: Repository, sandbox: Sandbox
) -> None:
    collectors = collectors_for(sandbox.settings())
    manifest = run_backup(repository, sandbox.host(), collectors)
    sandbox.client("set", "sshd", "banip", "192.0.2.77")
    (sandbox.config / "jail.local").write_text("[sshd]\nenabled = false\n")
    sandbox.client("reload")
    assert "sshd" not in jails(sandbox)
    restore_snapshot(repository, manifest, sandbox.host(), collectors)
    wait_for(lambda: "nginx-limit-req" in jails(sandbox), "the restored jails came up")
    assert "sshd" in jails(sandbox)
    # the ban survived (fail2ban re-bans from its database a moment after the jail starts), and
    # its firewall rule lives in the test namespace
    wait_for(lambda: "192.0.2.77" in sandbox.client("status", "sshd"), "the ban came back")
    wait_for(lambda: "192.0.2.77" in run_in(sandbox.namespace, "iptables-save"), "its rule")


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.2)


def test_a_jail_with_an_unknown_filter_is_refused(repository: Repository, sandbox: Sandbox):
    collectors = collectors_for(sandbox.settings())
    sandbox.write_jails(
        sandbox.root / "var/log/nginx/error.log",
        "\n[broken]\nenabled = true\nfilter = no-such-filter\n"
        f"logpath = {sandbox.root}/var/log/auth.log\n",
    )
    manifest = run_backup(repository, sandbox.host(), collectors)
    sandbox.write_jails(sandbox.root / "var/log/nginx/error.log")
    before = (sandbox.config / "jail.local").read_text()
    with pytest.raises(ValidationRefused, match="no-such-filter"):
        restore_snapshot(repository, manifest, sandbox.host(), collectors)
    assert (sandbox.config / "jail.local").read_text() == before


def test_a_fresh_host_without_the_log_files_is_still_checked_and_then_restored(
    repository: Repository, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The known trap: -t fails on a missing logpath. drtool checks everything else and creates
    the missing log when it reloads."""
    collectors = collectors_for(sandbox.settings())
    fresh_log = sandbox.root / "var/log/fresh/error.log"
    sandbox.write_jails(fresh_log)
    manifest = run_backup(repository, sandbox.host(), collectors)
    assert not fresh_log.exists()
    restore_snapshot(repository, manifest, sandbox.host(), collectors)
    assert fresh_log.exists()
    assert "nginx-limit-req" in jails(sandbox)

    sandbox.write_jails(
        fresh_log,
        "\n[broken]\nenabled = true\nfilter = no-such-filter\n"
        f"logpath = {tmp_path}/not/there.log\n",
    )
    broken = run_backup(repository, sandbox.host(), collectors)
    with pytest.raises(ValidationRefused, match="no-such-filter"):
        restore_snapshot(repository, broken, sandbox.host(), collectors)


def test_a_reload_that_fails_is_rolled_back(repository: Repository, sandbox: Sandbox) -> None:
    """A jail reading a log outside the host root that does not exist: the check passes (the
    log may appear), drtool may not create it there, the reload fails, and the previous jails
    come back, verified."""
    collectors = collectors_for(sandbox.settings())
    sandbox.write_jails(Path("/nonexistent-drtool-test/error.log"))
    broken = run_backup(repository, sandbox.host(), collectors)
    sandbox.write_jails(sandbox.root / "var/log/nginx/error.log")
    sandbox.client("reload")
    before = (sandbox.config / "jail.local").read_text()
    with pytest.raises(RestoreRolledBack) as raised:
        restore_snapshot(repository, broken, sandbox.host(), collectors)
    assert raised.value.report.rolled_back == ["fail2ban"]
    assert (sandbox.config / "jail.local").read_text() == before
    assert "nginx-limit-req" in jails(sandbox)
