"""nginx for real: a server started from a sandbox root on 127.0.0.1, backed up, broken,
restored into, reloaded (and the reload verified) and asked over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.capture import stage_artifact
from drtool.collectors import collectors_for
from drtool.config import SERVICE_TIMEOUT, Settings
from drtool.errors import RestoreRolledBack, RollbackIncomplete, ValidationRefused
from drtool.host import Host
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from tests.support.services import Nginx

pytestmark = pytest.mark.real_parts("nginx")

# [services.nginx] timeout where a reload or a health check is meant to fail: it is waited out,
# and a reload that does take (the rollback's) takes well within it.
SHORT_TIMEOUT = 3.0


@dataclass
class Sandbox(Nginx):
    def settings(self, restart: str | None = None, timeout: float = SERVICE_TIMEOUT) -> Settings:
        service = replace(self.service(restart), timeout=timeout)
        return Settings(kinds=("nginx",), services={"nginx": service})


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "host", 0)
    box.start()
    try:
        yield box
    finally:
        box.stop()


def etc_files(sandbox: Sandbox) -> dict[Path, bytes]:
    return {
        path: path.read_bytes()
        for path in sandbox.root.joinpath("etc").rglob("*")
        if path.is_file()
    }


def restore(
    repository: Repository,
    sandbox: Sandbox,
    manifest,
    restart: str | None = None,
    timeout: float = SERVICE_TIMEOUT,
):
    host = Host(sandbox.root, "web-1", services=True)
    collectors = collectors_for(sandbox.settings(restart, timeout))
    return restore_snapshot(repository, manifest, host, collectors)


def backup(repository: Repository, sandbox: Sandbox):
    return run_backup(repository, Host(sandbox.root, "web-1"), collectors_for(sandbox.settings()))


def test_restore_reloads_nginx_and_the_old_site_answers_again(
    repository: Repository, sandbox: Sandbox
) -> None:
    manifest = backup(repository, sandbox)
    sandbox.write_site("v2 (a bad edit)")
    sandbox.reload_until("v2 (a bad edit)")
    result = restore(repository, sandbox, manifest)
    assert result.restored == ["nginx"]
    assert sandbox.answer() == "v1"


@pytest.mark.parametrize(
    "breakage, message",
    [
        (
            lambda text: text.replace("worker_processes 1;", "worker_processes 1"),
            "invalid number of arguments",
        ),
        (
            lambda text: text.replace("http {", "http {\n    no_such_directive on;"),
            "unknown directive",
        ),
    ],
    ids=["missing-semicolon", "unknown-directive"],
)
def test_a_broken_config_is_refused_and_nothing_changes(
    repository: Repository, sandbox: Sandbox, breakage, message: str
) -> None:
    good = sandbox.conf.read_text()
    sandbox.conf.write_text(breakage(good))
    broken = backup(repository, sandbox)
    sandbox.conf.write_text(good)
    sandbox.write_site("v3")
    sandbox.reload_until("v3")
    before = etc_files(sandbox)
    with pytest.raises(ValidationRefused, match=message):
        restore(repository, sandbox, broken)
    after = etc_files(sandbox)
    assert after == before
    assert sandbox.answer() == "v3"


@pytest.mark.slow
def test_a_reload_that_does_not_take_is_caught(repository: Repository, sandbox: Sandbox) -> None:
    """A restart command that does nothing: the reload is seen not to take, the rollback's
    reload neither, and the operator is told what to do."""
    manifest = backup(repository, sandbox)
    with pytest.raises(
        RollbackIncomplete, match=f"did not reload within {SHORT_TIMEOUT:g} s"
    ) as raised:
        restore(repository, sandbox, manifest, restart="true", timeout=SHORT_TIMEOUT)
    assert "drtool restore --rollback" in raised.value.report.operator_actions[0]


def test_validation_sees_the_staged_tree_at_the_live_path(
    repository: Repository, sandbox: Sandbox, tmp_path: Path
) -> None:
    """An absolute include of /etc/nginx/... resolves into the staged tree, through a bind mount
    in a private mount namespace, and the machine's own /etc/nginx is left untouched."""
    (sandbox.root / "etc/nginx/conf.d/absolute.conf").write_text(
        "include /etc/nginx/drtool-staged-only.conf;\n"
    )
    (sandbox.root / "etc/nginx/drtool-staged-only.conf").write_text("# only in the snapshot\n")
    assert not Path("/etc/nginx/drtool-staged-only.conf").exists()
    manifest = backup(repository, sandbox)
    record = manifest.artifact("nginx")
    (collector,) = collectors_for(sandbox.settings())
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = stage_artifact(repository, record, staging, host=manifest.host)
    assert collector.validate(Host(sandbox.root, "web-1", services=True), staged) == []
    assert not Path("/etc/nginx/drtool-staged-only.conf").exists()


@pytest.mark.slow
def test_a_failing_health_check_rolls_the_files_and_nginx_back(
    repository: Repository, sandbox: Sandbox
) -> None:
    """The snapshot's site answers 503: the restore applies it, reloads, sees the health check
    fail, and puts the previous files back, reloads again, and checks again."""
    sandbox.write_site("broken")
    site = sandbox.root / "etc/nginx/sites-available/app"
    site.write_text(site.read_text().replace("return 200", "return 503"))
    broken = backup(repository, sandbox)
    sandbox.write_site("v4")
    sandbox.reload_until("v4")
    before = etc_files(sandbox)
    answered = f"did not answer in {SHORT_TIMEOUT:g} s .HTTP 503"
    with pytest.raises(RestoreRolledBack, match=answered) as raised:
        restore(repository, sandbox, broken, timeout=SHORT_TIMEOUT)
    assert raised.value.report.rolled_back == ["nginx"]
    after = etc_files(sandbox)
    assert after == before
    assert sandbox.answer() == "v4"
