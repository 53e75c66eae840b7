"""A real dockerd (Debian's docker.io) inside a test network namespace, with its own socket,
data and exec roots, and a busybox image imported from the static binary (no registry here)."""

from __future__ import annotations

import io
import secrets
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.real_parts import require

IMAGE = "drtool-busybox:test"


@dataclass
class Dockerd:
    directory: Path
    namespace: str
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"unix://{self.directory}/docker.sock"

    def client(self):  # the caller closes it
        import docker

        return docker.DockerClient(base_url=self.url, timeout=60)


def _busybox_rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add("/bin/busybox", arcname="bin/busybox")
        for applet in ("sh", "sleep"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            archive.addfile(link)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    require("dockerd", "netns")
    directory = Path(tmp_path_factory.mktemp("dockerd"))
    namespace = f"drtool-docker-{secrets.token_hex(4)}"  # other test runs have their own
    subprocess.run(["ip", "netns", "add", namespace], check=True, capture_output=True)
    log = (directory / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            "nsenter",
            f"--net=/run/netns/{namespace}",
            "dockerd",
            "--host",
            f"unix://{directory}/docker.sock",
            "--data-root",
            str(directory / "data"),
            "--exec-root",
            str(directory / "exec"),
            "--pidfile",
            str(directory / "docker.pid"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    daemon = Dockerd(directory, namespace, process)
    try:
        deadline = time.monotonic() + 60
        while not (directory / "docker.sock").exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"dockerd did not start; see its log in {directory}")
            time.sleep(0.2)
        client = daemon.client()
        try:
            client.ping()
            client.api.import_image_from_data(_busybox_rootfs(), repository=IMAGE)
        finally:
            client.close()
        yield daemon
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        _unmount_under(directory)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def _unmount_under(directory: Path) -> None:
    """What the stopped daemon left mounted under ``directory`` (at times its exec root's
    netns/default, a bind mount of its namespace): otherwise the next run's pytest cannot remove
    its --basetemp and stops before the first test."""
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted(points, reverse=True):
        if point.startswith(f"{directory}/"):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
