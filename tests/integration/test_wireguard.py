"""WireGuard for real: configs checked with wg-quick strip and wg setconf on a scratch
interface, and a live interface (userspace wireguard-go) in a test namespace restored into with
wg syncconf, or down/up when its address changed, then compared with wg showconf."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from tests.support.netns import in_root_view, network_namespace, run_in
from tests.support.processes import processes_running
from tests.support.services import wireguard_config, wireguard_keypair

pytestmark = pytest.mark.real_parts("wireguard", "netns")
SETTINGS = Settings(kinds=("wireguard",))
# wireguard-go's control socket is /var/run/wireguard/<name>.sock, one for the whole machine
# whatever the namespace: a name of this run's own, so that other test runs' wg0 never clash.
IFNAME = f"wg{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RecordingRunner(Runner):
    """drtool's runner, keeping every command it runs (to find the scratch interface's name)."""

    commands: list[list[str]] = field(default_factory=list)

    def run(self, argv: Sequence[str], **options: Any) -> bytes:
        self.commands.append(list(argv))
        return super().run(argv, **options)


@dataclass
class Sandbox:
    root: Path
    namespace: str
    commands: list[list[str]] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / f"etc/wireguard/{IFNAME}.conf"

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
        return self.wg("showconf", IFNAME)

    def host(self, allow_hooks: bool = False) -> Host:
        return Host(
            self.root,
            "vpn-1",
            RecordingRunner(netns=self.namespace, commands=self.commands),
            allow_hooks=allow_hooks,
        )


@pytest.fixture
def sandbox(tmp_path: Path, netns: str) -> Iterator[Sandbox]:
    (tmp_path / "host/etc/wireguard").mkdir(parents=True, mode=0o700)
    box = Sandbox(tmp_path / "host", netns)
    yield box
    subprocess.run(
        ["ip", "netns", "exec", netns, "ip", "link", "del", IFNAME],
        capture_output=True,
        check=False,
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
    assert (sandbox.root / f"etc/wireguard/{IFNAME}.conf").stat().st_mode & 0o777 == 0o600

    # the bad edit: peer A replaced by B, in the file and live
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_b, "10.9.0.3/32")]))
    sandbox.wg("set", IFNAME, "peer", public_a, "remove")
    sandbox.wg("set", IFNAME, "peer", public_b, "allowed-ips", "10.9.0.3/32")
    assert peers(sandbox.showconf()) == {public_b}

    restore_snapshot(repository, manifest, sandbox.host(), collectors_for(SETTINGS))
    assert peers(sandbox.showconf()) == {public_a}
    assert sandbox.conf.stat().st_mode & 0o777 == 0o600
    assert "10.9.0.1/24" in run_in(sandbox.namespace, "ip", "-o", "addr", "show", "dev", IFNAME)


def test_an_address_change_takes_the_interface_down_and_up(
    repository: Repository, sandbox: Sandbox
) -> None:
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_a, "10.9.0.2/32")]))
    manifest = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    sandbox.write(wireguard_config(server[0], "10.7.7.1/24", [(public_a, "10.9.0.2/32")]))
    sandbox.wg_quick("up")
    restore_snapshot(repository, manifest, sandbox.host(), collectors_for(SETTINGS))
    addresses = run_in(sandbox.namespace, "ip", "-o", "addr", "show", "dev", IFNAME)
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
    (scratch,) = {word for argv in sandbox.commands for word in argv if "drtoolwg" in word}
    assert processes_running("wireguard-go", scratch) == [], "the scratch wireguard-go is gone"


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
    assert "10.9.0.1/24" in run_in(sandbox.namespace, "ip", "-o", "addr", "show", "dev", IFNAME)
    assert peers(sandbox.showconf()) == {public_a}


def test_an_interface_that_was_up_comes_back_up(repository: Repository, sandbox: Sandbox) -> None:
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_a, "10.9.0.2/32")]))
    sandbox.wg_quick("up")
    manifest = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    # Only this namespace's: wireguard-go's sockets are machine-wide, and `wg show interfaces`
    # also lists the interfaces other test runs have up in their own namespaces.
    assert manifest.artifact("wireguard").metadata["up"] == [IFNAME]
    sandbox.wg_quick("down")
    restore_snapshot(repository, manifest, sandbox.host(), collectors_for(SETTINGS))
    assert peers(sandbox.showconf()) == {public_a}


def test_an_invalid_address_is_refused(repository: Repository, sandbox: Sandbox) -> None:
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    sandbox.write(wireguard_config(server[0], "10.9.0.1/33", [(public_a, "10.9.0.2/32")]))
    broken = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
    with pytest.raises(ValidationRefused, match=r"invalid Address '10\.9\.0\.1/33'"):
        restore_snapshot(repository, broken, sandbox.host(), collectors_for(SETTINGS))


def test_another_namespaces_interface_is_not_taken_for_ours(
    repository: Repository, sandbox: Sandbox, tmp_path: Path
) -> None:
    """wireguard-go's control sockets (/var/run/wireguard/NAME.sock) are shared by every
    namespace: an interface up in another namespace answers `wg show` here too. It is neither
    recorded as up nor health-checked here (that failed restores with 'Device does not exist')."""
    server, public_a = wireguard_keypair(), wireguard_keypair()[1]
    sandbox.write(wireguard_config(server[0], "10.9.0.1/24", [(public_a, "10.9.0.2/32")]))
    sandbox.wg_quick("up")
    other_name = f"wg{secrets.token_hex(3)}"
    other = tmp_path / "other" / f"{other_name}.conf"
    other.parent.mkdir()
    other.write_text(wireguard_config(wireguard_keypair()[0], "10.7.0.1/24", []))
    other.chmod(0o600)
    with network_namespace() as elsewhere:
        run_in(elsewhere, *USERSPACE, "wg-quick", "up", str(other))
        try:
            assert run_in(sandbox.namespace, "wg", "show", other_name), "the socket is shared"
            manifest = run_backup(repository, sandbox.host(), collectors_for(SETTINGS))
            assert manifest.artifact("wireguard").metadata["up"] == [IFNAME]
            restore_snapshot(repository, manifest, sandbox.host(), collectors_for(SETTINGS))
        finally:
            run_in(elsewhere, *USERSPACE, "wg-quick", "down", str(other))
    assert peers(sandbox.showconf()) == {public_a}
