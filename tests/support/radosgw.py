"""A real S3 server for the tests: Ceph's radosgw on 127.0.0.1, one monitor, one memstore OSD.

Started once per test session (a few seconds), with authentication off inside the cluster and one
S3 user; every daemon is stopped at the end. Both ports are picked free, so several test runs
(of several worktrees) may each have their own cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import process_state
from tests.support.ports import free_port

ACCESS_KEY = "drtooltestaccess"
SECRET_KEY = "drtooltestsecret"  # a throwaway user of a throwaway cluster

CONFIG = """\
[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 2147483648
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
mon allow pool delete = true
mon warn on pool no redundancy = false
# One monitor, no peer to batch for: a change (each pool radosgw makes at start-up and at the
# first bucket and object) is proposed at once, not after the default second (~2 s a pool).
paxos propose interval = 0.1
paxos min wait = 0.01
run dir = {directory}/run
log file = {directory}/log/$name.log
admin socket = {directory}/run/$name.asok
pid file = {directory}/run/$name.pid
[mon.a]
mon data = {directory}/mon
[osd.0]
osd data = {directory}/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
ms mon client mode = crc secure
rgw data = {directory}/rgw
rgw enable usage log = false
"""


@dataclass
class Radosgw:
    directory: Path
    endpoint: str = ""

    def start(self) -> None:
        for sub in ("mon", "osd", "run", "log", "rgw"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        rgw_port, mon_port = free_port(), free_port()
        self.config = self.directory / "ceph.conf"
        self.config.write_text(
            CONFIG.format(fsid=fsid, mon_port=mon_port, rgw_port=rgw_port, directory=self.directory)
        )
        monmap = self.directory / "monmap"
        self._run(
            "monmaptool",
            "--create",
            "--addv",
            "a",
            f"[v2:127.0.0.1:{mon_port}]",
            "--fsid",
            fsid,
            str(monmap),
        )
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(monmap))
        self._run("ceph-mon", "-i", "a")
        self._run("ceph", "osd", "create")
        self._run("ceph-osd", "-i", "0", "--mkfs")
        self._run("ceph-osd", "-i", "0")
        self._run("radosgw", "-n", "client.rgw")
        self.endpoint = f"http://127.0.0.1:{rgw_port}"
        self._wait_for_http(timeout=90)
        self._run(
            "radosgw-admin",
            "user",
            "create",
            "--uid=drtool",
            "--display-name=drtool",
            f"--access-key={ACCESS_KEY}",
            f"--secret-key={SECRET_KEY}",
        )

    def _run(self, *command: str) -> None:
        subprocess.run(
            [command[0], "-c", str(self.config), *command[1:]],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def _wait_for_http(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint, timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"radosgw did not answer on {self.endpoint} within {timeout} s")

    def stop(self) -> None:
        """Kill every daemon: a throwaway cluster in memory has nothing to flush, and an OSD
        asked to stop spends seconds taking leave of its monitor."""
        pids = []
        for pid_file in (self.directory / "run").glob("*.pid"):
            try:
                pids.append(int(pid_file.read_text().strip()))
            except (OSError, ValueError):
                continue
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (killed, but not yet reaped by its parent: it does not)."""
    try:
        return process_state(pid) != "Z"
    except OSError:
        return False
