"""Review of issue 10: a snapshot whose root is itself an absolute link.

The snapshot's ``/etc/fail2ban`` (a root the restoring host gives the fail2ban kind) is a link
to a directory of this machine. Validation binds each staged root into the checkers' sandbox
(``bwrap --ro-bind <staged root> /etc/fail2ban``): bwrap follows the link on the machine, so
the machine's directory shows inside the sandbox, and the snapshot's nginx.conf includes a
secret from it. nginx's error names the secret's first token; drtool prints it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.hostile import backed_up_by_an_attacker

SECRET = "review-machine-secret-7f3a91"


@pytest.mark.real_parts("nginx", "bwrap")
def test_a_linked_root_shows_nothing_of_the_machine_to_the_checkers(
    cli: Cli, tmp_path: Path
) -> None:
    machine = tmp_path / "machine-private"
    machine.mkdir(mode=0o700)
    (machine / "secret").write_text(f"{SECRET};\n")
    (machine / "secret").chmod(0o600)

    evil = tmp_path / "evil"
    (evil / "etc/nginx").mkdir(parents=True)
    (evil / "etc/nginx/nginx.conf").write_text("events {}\ninclude /etc/fail2ban/secret;\n")
    os.symlink(str(machine), evil / "etc/fail2ban")
    cli("init")
    snapshot_id = backed_up_by_an_attacker(cli, evil, ["nginx", "fail2ban"])
    # Whatever a drill concludes (refusing the linked root is the fix), the secret stays out.
    drilled = cli.run("drill", snapshot_id)
    assert drilled.returncode != 0
    assert SECRET not in drilled.stdout + drilled.stderr, drilled.stderr


def test_a_root_that_is_a_link_is_never_restored_as_one(cli: Cli, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    (evil / "etc/nginx").mkdir(parents=True)
    (evil / "etc/nginx/nginx.conf").write_text("events {}\n")
    os.symlink("/tmp/review-anyone-writes-here", evil / "etc/fail2ban")
    cli("init")
    snapshot_id = backed_up_by_an_attacker(cli, evil, ["nginx", "fail2ban"])
    host = Path(cli.environment["DRTOOL_ROOT"])
    cli.run("restore", snapshot_id, "--yes")
    assert not (host / "etc/fail2ban").is_symlink(), os.readlink(host / "etc/fail2ban")
