"""The image is built and run here, with no registry: a Debian base made by mmdebstrap from
Debian's packages and `docker import`ed, then `docker build` of the project's Dockerfile (drtool
as wheels built outside) in a real dockerd inside a test network namespace; the built image then
backs up that namespace's firewall and a mounted host root, with NET_ADMIN and NET_RAW, not
privileged, as the CronJob runs it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, PASSPHRASE, Cli, cli_environment
from tests.support.dockerd import Dockerd
from tests.support.netns import run_in

REPOSITORY = Path(__file__).resolve().parents[2]
BASE, IMAGE = "drtool-base:test", "drtool:test"


def dockerfile_packages() -> list[str]:
    found = re.search(r'^ARG PACKAGES="([^"]+)"', (REPOSITORY / "Dockerfile").read_text(), re.M)
    return found.group(1).split()


@pytest.fixture(scope="module")
def image(dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed; scripts/test installs it")
    work = tmp_path_factory.mktemp("image")
    base = work / "base.tar"
    context = work / "context"
    (context / "wheels").mkdir(parents=True)
    # The wheels are built while mmdebstrap makes the base: neither needs the other.
    wheels = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(context / "wheels"),
            str(REPOSITORY),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=apt",
                "--quiet",
                f"--include={','.join(dockerfile_packages())}",
                "bookworm",
                str(base),
            ],
            check=True,
            capture_output=True,
        )
    finally:
        output, _ = wheels.communicate()
    assert wheels.returncode == 0, f"pip wheel failed: {output.decode(errors='replace')}"
    shutil.copy(REPOSITORY / "Dockerfile", context / "Dockerfile")
    client = dockerd.client()
    try:
        with base.open("rb") as stream:
            client.api.import_image_from_data(stream, repository=BASE)
        client.images.build(
            path=str(context), tag=IMAGE, buildargs={"BASE": BASE}, rm=True, network_mode="none"
        )
    finally:
        client.close()
    return IMAGE


def backup_in_the_image(image: str, dockerd: Dockerd, root: Path, repository: str) -> bytes:
    """The CronJob's backup, run in the image: host network (the daemon's namespace, as the
    node's), the root's /etc read-only under /host, NET_ADMIN and NET_RAW, not privileged."""
    client = dockerd.client()
    try:
        return client.containers.run(
            image,
            entrypoint=["drtool"],  # as the CronJob's command overrides it
            command=[
                "--root",
                "/host",
                "--host-network",
                "--repo",
                "/repo",
                "--host",
                "web-1",
                "backup",
                "--tag",
                "image",
                "--json",
            ],
            environment={"DRTOOL_PASSWORD": PASSPHRASE},
            network_mode="host",
            cap_add=["NET_ADMIN", "NET_RAW"],
            privileged=False,
            volumes={
                str(root / "etc"): {"bind": "/host/etc", "mode": "ro"},
                repository: {"bind": "/repo", "mode": "rw"},
            },
            remove=True,
        )
    finally:
        client.close()


@pytest.mark.slow
def test_the_built_image_backs_up_a_firewall_and_a_mounted_root(
    image: str, dockerd: Dockerd, tmp_path: Path, sample_root: Path
) -> None:
    environment = cli_environment(tmp_path, sample_root, EXAMPLES / "drtool.toml")
    cli = Cli(environment)
    cli("init")
    rule = ("INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    run_in(dockerd.namespace, "iptables", "-A", *rule)
    try:
        output = backup_in_the_image(image, dockerd, sample_root, environment["DRTOOL_REPO"])
        saved = run_in(dockerd.namespace, "iptables-save", "-t", "filter")
    finally:  # the daemon's namespace serves the whole session: leave it as it was
        run_in(dockerd.namespace, "iptables", "-D", *rule)
    summary = json.loads(output)
    assert summary["tags"] == ["image"] and "iptables" in summary["kinds"]
    shown = json.loads(cli("show", "latest", "--json").stdout)
    kinds = {item["kind"]: item for item in shown["artifacts"]}
    # the namespace's own iptables-save is the oracle: every filter rule, docker's and ours
    assert "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" in saved
    filter_rules = sum(line.startswith("-A ") for line in saved.splitlines())
    assert kinds["iptables"]["details"]["v4"]["filter"]["rules"] == filter_rules
    assert kinds["nginx"]["present"] and kinds["wireguard"]["present"]
    restored = tmp_path / "restored"
    cli("restore", "latest", "--target", str(restored), "--only", "nginx")
    compared = subprocess.run(
        [
            "diff",
            "-r",
            "--no-dereference",
            str(sample_root / "etc/nginx"),
            str(restored / "etc/nginx"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert compared.returncode == 0, compared.stdout
