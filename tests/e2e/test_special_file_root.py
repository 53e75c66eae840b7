"""A [files] path that is a socket or a fifo: drtool backs up files, directories and links, so
it is skipped (named in the snapshot's record) and the snapshot still restores; before, the
backup succeeded with a root no restore could build, and every restore of it was refused."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

from tests.conftest import Cli


def host_root(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_ROOT"])


def test_a_files_root_that_is_a_fifo_or_a_socket_is_skipped_and_the_snapshot_restores(
    cli: Cli, tmp_path: Path
) -> None:
    root = host_root(cli)
    (root / "etc/app").mkdir(parents=True, exist_ok=True)
    (root / "etc/app/app.conf").write_text("workers = 4\n")
    os.mkfifo(root / "etc/app/control.fifo")
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(root / "etc/app.sock"))
        config = tmp_path / "drtool.toml"
        config.write_text(
            '[backup]\nkinds = ["files"]\n'
            '[files]\npaths = ["/etc/app.sock", "/etc/app/control.fifo", "/etc/app/app.conf"]\n'
        )
        cli.environment["DRTOOL_CONFIG"] = str(config)
        cli("init")
        snapshot = cli("backup").stdout.strip()
        (root / "etc/app/app.conf").write_text("workers = 1\n")
        cli("restore", snapshot, "--yes")
        assert (root / "etc/app/app.conf").read_text() == "workers = 4\n"
        assert stat.S_ISFIFO(os.lstat(root / "etc/app/control.fifo").st_mode)
        assert stat.S_ISSOCK(os.lstat(root / "etc/app.sock").st_mode)
        (files,) = json.loads(cli("show", snapshot, "--json").stdout)["artifacts"]
        assert files["metadata"]["skipped_special_files"] == [
            "etc/app.sock",
            "etc/app/control.fifo",
        ]
    finally:
        listener.close()
