"""Review of issue 10: modes a snapshot gives the files in the roots root's services read.

Set-id bits are dropped; a world-writable directory in /etc/nginx is restored as the snapshot
says (and so is a file owned by uid 1000, whoever that is on the restoring host). Any local
user may then put an nginx configuration (a load_module) or a fail2ban action where root's
service reads it: a hostile snapshot hands root to every local account, with no hook for
validation to see.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import Cli
from tests.support.hostile import backed_up_by_an_attacker


def test_no_restored_entry_is_writable_by_a_local_user(cli: Cli, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    conf_d = evil / "etc/nginx/conf.d"
    conf_d.mkdir(parents=True)
    (evil / "etc/nginx/nginx.conf").write_text(
        "events {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n"
    )
    (conf_d / "site.conf").write_text("# empty\n")
    os.chown(conf_d / "site.conf", 1000, 1000)  # an ordinary user's
    conf_d.chmod(0o777)  # anyone may add a file
    cli("init")
    snapshot_id = backed_up_by_an_attacker(cli, evil, ["nginx"])
    restored = cli.run("restore", snapshot_id, "--yes")
    host = Path(cli.environment["DRTOOL_ROOT"])
    exposed = [
        f"{path.relative_to(host)} {stat.filemode(path.lstat().st_mode)} uid {path.lstat().st_uid}"
        for path in [host / "etc/nginx", *(host / "etc/nginx").rglob("*")]
        if not path.is_symlink() and path.lstat().st_mode & stat.S_IWOTH
    ]
    assert exposed == [], f"exit {restored.returncode}: {exposed}"
