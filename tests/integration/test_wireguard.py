"""WireGuard for real: configs checked with wg-quick strip and wg setconf on a scratch
interface, and a live interface (userspace wireguard-go) in a test namespace restored into with
wg syncconf, or down/up when its address changed, then compared with wg showconf."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.collectors.wireguard import USERSPACE
from drtool.config import Settings
from drtool.errors import RestoreRolledBack, ValidationRefused
from drtool.host import Host
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from tests.support.netns import in_root_view, run_in
from tests.support.services import wireguard_config, wireguard_keypair

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("wg", "wg-quick", "wireguard-go")),
    reason="wireguard-tools or wireguard-go is not installed; scripts/test installs them",
)
SETTINGS = Settings(kinds=("wireguard",))


@dataclass
class Sandbox:
    root: Path
    namespace: str

    @property
    def conf(self) -> Path:
        return self.root / "etc/wireguard/wg0.conf"

    def write(self, text: str) -> None:
        self.conf.write_text(text)
        self.conf.chmod(0o600)

    def wg_quick(self, action: str) -> None:
        run_in(
            self.namespace, *in_root_view(self.root, *USERSPACE, "wg-quick", action, str(self.conf))
        )

    def wg(self, *arguments: str) -> str:
        return run_in(self.namespace, *in_root_view(self.root, "wg", *arguments))

    def showconf(self) -> str:
        return self.wg("showconf", "wg0")

    def host(self, allow_hooks: bool = False) -> Host:
        return Host(self.root, "vpn-1", Runner(netns=self.namespace), allow_hooks=allow_hooks)


@pytest.fixture
def sandbox(tmp_path: Path, netns: str) -> Iterator[Sandbox]:
    (tmp_path / "host/etc/wireguard").mkdir(parents=True, mode=0o700)
    box = Sandbox(tmp_path / "host", netns)
    yield box
    subprocess.run(
        ["ip", "netns", "exec", netns, "ip", "link", "del", "wg0"], capture_output=True, check=False
    )


def peers(showconf: str) -> set[str]:
    return {
        line.split("=", 1)[1].strip()
        for line in showconf.splitlines()
        if line.startswith("PublicKey")
    }


def test_peers_come_back_with_syncconf(repository: Repository, sandbox: Sandbox) -> None:
    server = wireguard_keypair()
    public_a, public_b = wireguard_keypair()[1], wireguard_keypair()[1]
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_a, "10.9.0.2/32")]))
    sandbox.wg_quick("up")
    manifest = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    assert (sandbox.root / "etc/wireguard/wg0.conf").stat().st_mode & 0o777 == 0o600

    # the bad edit: peer A replaced by B, in the file and live
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_b, "10.9.0.3/32")]))
    sandbox.wg("set", "wg0", "peer", public_a, "remove")
    sandbox.wg("set", "wg0", "peer", public_b, "allowed-ips", "10.9.0.3/32")
    assert peers(sandbox.showconf()) == {public_b}

    restore_snapshot(repository, manifest, sandbox.host(), collectors_for(SETTINGS))
    assert peers(sandbox.showconf()) == {public_a}
    assert sandbox.conf.stat().st_mode & 0o777 == 0o600
    assert "10.9.0.1/24" in run_in(sandbox.namespace, "ip", "-o", "addr", "show", "dev", "wg0")


def test_an_address_change_takes_the_interface_down_and_up(
    repository: Repository, sandbox: Sandbox
) -> None:
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_a, "10.9.0.2/32")]))
    manifest = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    sandbox.write(wireguard_config(server[0], "10.7.7.1/24", [(public_a, "10.9.0.2/32")]))
    sandbox.wg_quick("up")
    restore_snapshot(repository, manifest, sandbox.host(), collectors_for(SETTINGS))
    addresses = run_in(sandbox.namespace, "ip", "-o", "addr", "show", "dev", "wg0")
    assert "10.9.0.1/24" in addresses and "10.7.7.1" not in addresses


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda text: text.replace("10.9.0.2/32", "10.9.0.2/33"), "AllowedIP"),
        (lambda text: text.replace("PrivateKey = ", "PrivateKey = x"), "Key"),
    ],
    ids=["allowed-ips", "private-key"],
)
def test_a_broken_config_is_refused(
    repository: Repository, sandbox: Sandbox, breakage, message: str
) -> None:
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    good = wireguard_config(server[0], "10.9.0.1/24", [(public_a, "10.9.0.2/32")])
    sandbox.write(breakage(good))
    broken = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    sandbox.write(good)
    with pytest.raises(ValidationRefused, match=message):
        restore_snapshot(repository, broken, sandbox.host(), collectors_for(SETTINGS))
    assert sandbox.conf.read_text() == good
    leftovers = subprocess.run(["pgrep", "-f", "wireguard-go drtoolwg"], capture_output=True)
    assert leftovers.returncode == 1, "the scratch interface and its wireguard-go are gone"


def test_a_failing_interface_restart_is_rolled_back_and_the_interface_is_up_again(
    repository: Repository, sandbox: Sandbox
) -> None:
    """The snapshot's wg0 moves its address and has a PreUp hook that fails (the operator
    allowed hooks): wg-quick up fails after the down, and the rollback brings the previous wg0
    back up."""
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    failing = wireguard_config(server[0], "10.9.5.1/24", [(public_a, "10.9.0.2/32")])
    sandbox.write(failing.replace("[Interface]\n", "[Interface]\nPreUp = false\n"))
    broken = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_a, "10.9.0.2/32")]))
    sandbox.wg_quick("up")
    with pytest.raises(RestoreRolledBack, match="wg-quick") as raised:
        restore_snapshot(
            repository, broken, sandbox.host(allow_hooks=True), collectors_for(SETTINGS)
        )
    assert raised.value.report.rolled_back == ["wireguard"]
    assert "10.9.0.1/24" in run_in(sandbox.namespace, "ip", "-o", "addr", "show", "dev", "wg0")
    assert peers(sandbox.showconf()) == {public_a}


def test_an_interface_that_was_up_comes_back_up(repository: Repository, sandbox: Sandbox) -> None:
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_a, "10.9.0.2/32")]))
    sandbox.wg_quick("up")
    manifest = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    assert manifest.artifact("wireguard").metadata["up"] == ["wg0"]
    sandbox.wg_quick("down")
    restore_snapshot(repository, manifest, sandbox.host(), collectors_for(SETTINGS))
    assert peers(sandbox.showconf()) == {public_a}


def test_an_invalid_address_is_refused(repository: Repository, sandbox: Sandbox) -> None:
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    sandbox.write(wireguard_config(server[0], "10.9.0.1/33", [(public_a, "10.9.0.2/32")]))
    broken = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    with pytest.raises(ValidationRefused, match=r"invalid Address '10\.9\.0\.1/33'"):
        restore_snapshot(repository, broken, sandbox.host(), collectors_for(SETTINGS))
