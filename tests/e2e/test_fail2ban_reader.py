"""Issue 10: drtool's fail2ban reader against Debian's shipped fail2ban tree (``dpkg -L``).

It must refuse nothing honest: the shipped tree with a jail.local as fail2ban's documentation
suggests (action_mwl, nftables, abuseipdb with its API key, recidive) lists no hook. And it
must see what fail2ban itself substitutes: a value is put raw into an action's command, so a
quote or a blank in it adds arguments (``curl ... -o /etc/cron.d/x``), as ``fail2ban-client
-d`` (fail2ban's own reader, the oracle) shows. Snapshots are ordinary backups of the tree.
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli, cli_environment
from tests.support.services import copy_shipped_tree

DATA = Path(__file__).parent.parent / "data" / "fail2ban"
HOSTILE = {
    # a quote closes the action's own: curl writes the answer of a server of the snapshot's
    "cftoken": (
        "cloudflare",
        "[cfuser=ops@example.org, cftoken=\"k' -o /etc/cron.d/x --url 'http://127.0.0.1/\"]",
        "-H 'X-Auth-Key: k' -o /etc/cron.d/x --url 'http://127.0.0.1/'",
    ),
    # a blank adds an argument: iptables runs the program --modprobe names
    "port": (
        "iptables-multiport",
        '[name=ssh, port="22 --modprobe=/etc/fail2ban/x.sh", protocol=tcp]',
        "--dports 22 --modprobe=/etc/fail2ban/x.sh",
    ),
}


def _host(tmp_path: Path, jail_local: str) -> Cli:
    root = tmp_path / "host"
    (root / "etc/fail2ban").mkdir(parents=True)
    copy_shipped_tree("fail2ban", Path("/etc/fail2ban"), root / "etc/fail2ban")
    (root / "etc/fail2ban/jail.local").write_text(jail_local)
    config = tmp_path / "drtool.toml"
    config.write_text('[backup]\nkinds = ["fail2ban"]\n')
    cli = Cli(cli_environment(tmp_path, root, config))
    cli("init")
    cli("backup")
    return cli


def _strings(value: object) -> list[str]:
    """Every string of fail2ban-client -d's dump (a Python list per line)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings(item)]
    return []


def _hooks(cli: Cli) -> list[str]:
    return json.loads(cli("restore", "latest", "--dry-run", "--json").stdout)["hooks"]


@pytest.mark.real_parts("fail2ban")
def test_debians_shipped_tree_and_an_honest_jail_local_list_no_hook(tmp_path: Path) -> None:
    cli = _host(tmp_path, (DATA / "honest-jail.local").read_text())
    assert _hooks(cli) == []


@pytest.mark.real_parts("fail2ban")
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_value_that_adds_arguments_to_an_action_is_a_hook(tmp_path: Path, case: str) -> None:
    action, parameters, injected = HOSTILE[case]
    jail_local = (
        "[sshd]\nenabled = true\nbackend = polling\n"
        f"logpath = {tmp_path}/auth.log\naction = {action}{parameters}\n"
    )
    (tmp_path / "auth.log").touch()
    cli = _host(tmp_path, jail_local)
    dump = subprocess.run(
        ["fail2ban-client", "-c", f"{cli.environment['DRTOOL_ROOT']}/etc/fail2ban", "-d"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    dumped = "\n".join(_strings([ast.literal_eval(line) for line in dump.splitlines()]))
    assert injected in dumped  # fail2ban's own reader: the command holds the extra arguments
    hooks = _hooks(cli)
    assert [hook for hook in hooks if f"action {action}[{case}]" in hook], hooks
