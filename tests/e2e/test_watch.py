"""drtool watch end to end: a change in a sandbox host root becomes a new snapshot, within the
debounce, with no schedule involved."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from docker.types import IPAMConfig, IPAMPool

from drtool.store.local import LocalStore
from tests.conftest import Cli
from tests.support.dockerd import Dockerd
from tests.support.netns import run_in


def snapshot_names(cli: Cli) -> list[str]:
    return list(LocalStore(cli.environment["DRTOOL_REPO"]).list("snapshots"))


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@contextmanager
def running_watch(cli: Cli, log_path: Path, poll: str = "1s", *extra: str) -> Iterator[Path]:
    """`drtool watch` running against the cli's host; yields its log file; stopped after."""
    cli("init")
    cli("backup")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "drtool",
                "watch",
                "-v",
                "--tag",
                "watch",
                "--debounce",
                "1s",
                "--max-delay",
                "5s",
                "--poll",
                poll,
                *extra,
            ],
            env=cli.environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "watching" in log_path.read_text(), "watch to start")
        yield log_path
        assert process.poll() is None, log_path.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def watching(cli: Cli, tmp_path: Path) -> Iterator[Path]:
    with running_watch(cli, tmp_path / "watch.log") as log_path:
        yield log_path


def test_a_change_becomes_a_snapshot(cli: Cli, watching: Path) -> None:
    root = Path(cli.environment["DRTOOL_ROOT"])
    before = snapshot_names(cli)
    (root / "etc/nginx/conf.d").mkdir(exist_ok=True)
    (root / "etc/nginx/conf.d/added.conf").write_text("# added by the test\n")
    wait_for(lambda: len(snapshot_names(cli)) == len(before) + 1, "a snapshot after the change")
    shown = cli("show", "latest").stdout
    assert "/etc/nginx/conf.d/added.conf" in shown and "[demo,watch]" in shown
    # a file in a directory created after the watch began, then a [files] path
    for changed in ("etc/nginx/conf.d/added.conf", "etc/redis/redis.conf"):
        count = len(snapshot_names(cli))
        (root / changed).write_text("# changed while watched\n")
        wait_for(lambda: len(snapshot_names(cli)) == count + 1, f"a snapshot after {changed}")  # noqa: B023
    settled = snapshot_names(cli)
    (root / "etc/unrelated.conf").write_text("not drtool's\n")  # outside every kind: no backup
    time.sleep(3)
    assert snapshot_names(cli) == settled
    assert "backed up after a change" in watching.read_text()


def test_a_firewall_change_becomes_a_snapshot(cli: Cli, tmp_path: Path, netns: str) -> None:
    """The firewall has no files to watch: a rule added in the host's namespace is polled."""
    in_netns = Cli({**cli.environment, "DRTOOL_NETNS": netns})
    with running_watch(in_netns, tmp_path / "watch.log"):
        count = len(snapshot_names(cli))
        run_in(netns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "2222", "-j", "DROP")
        wait_for(lambda: len(snapshot_names(cli)) == count + 1, "a snapshot after the rule")
    rules = json.loads(in_netns("show", "latest", "--json").stdout)
    (firewall,) = [item for item in rules["artifacts"] if item["kind"] == "iptables"]
    assert firewall["details"]["v4"]["filter"]["rules"] == 1


def test_a_docker_network_change_becomes_a_snapshot_through_events(
    cli: Cli, tmp_path: Path, dockerd: Dockerd
) -> None:
    """The poll is an hour away: only docker's event stream can notice the new network."""
    with_docker = Cli({**cli.environment, "DOCKER_HOST": dockerd.url})
    client = dockerd.client()
    try:
        with running_watch(with_docker, tmp_path / "watch.log", "1h", "--docker-events") as log:
            count = len(snapshot_names(cli))
            # a subnet of its own: an auto-assigned one would move docker's pool allocator on,
            # and the other suites' automatic networks with it
            pool = IPAMConfig(pool_configs=[IPAMPool(subnet="172.29.0.0/24")])
            client.networks.create("drtool-watch-events", driver="bridge", ipam=pool)
            wait_for(lambda: len(snapshot_names(cli)) == count + 1, "a snapshot after the event")
            assert "a docker network changed (docker events)" in log.read_text()
    finally:
        for network in client.networks.list(names=["drtool-watch-events"]):
            network.remove()
        client.close()
    shown = json.loads(with_docker("show", "latest", "--json").stdout)
    (networks,) = [item for item in shown["artifacts"] if item["kind"] == "docker_networks"]
    assert "drtool-watch-events" in json.dumps(networks)
