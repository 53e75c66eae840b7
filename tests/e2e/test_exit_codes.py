"""The README's exit codes 1 and 20 as an operator meets them, through the CLI: the exact code, a
one-line error, and nothing changed (the repository's snapshots, the host's files, the
namespace's firewall, read back with the tools themselves).

An internal error (1) is a bug, so no honest input reaches it: the test seam raises an exception
no code expects at a named point (``DRTOOL_TESTPOINT=NAME:raise``, drtool/testpoint.py), which is
what a bug there would do. A collector that cannot read (20) is a real firewall tool failing
(a shim first in PATH answering as iptables-nft-save does without the right to read)."""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drtool.cli.app import Context, run
from drtool.testpoint import VARIABLE as TESTPOINT
from tests.conftest import Cli, cli_environment, owned_listing
from tests.e2e.test_restore_engine import host_root
from tests.e2e.test_restore_engine import incident as incident  # a fixture
from tests.support.advice import follow
from tests.support.faults import shims
from tests.support.netns import run_in


def snapshot_ids(cli: Cli) -> list[str]:
    return [snapshot["id"] for snapshot in json.loads(cli("snapshots", "--json").stdout)]


def repository_files(cli: Cli) -> dict[str, bytes]:
    """Every file of the local repository, by path: the oracle for "nothing written"."""
    repo = Path(cli.environment["DRTOOL_REPO"])
    return {
        path.relative_to(repo).as_posix(): path.read_bytes()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and not path.relative_to(repo).as_posix().startswith(("locks", "heads"))
    }


def rules(netns: str) -> list[str]:
    """iptables-save's text, less its dated comments."""
    return [line for line in run_in(netns, "iptables-save").splitlines() if line[:1] != "#"]


def with_bug_at(cli: Cli, point: str) -> Cli:
    return Cli({**cli.environment, TESTPOINT: f"{point}:raise"})


def test_an_internal_error_is_one_line_exit_1_and_its_traceback_only_behind_debug(
    cli: Cli,
) -> None:
    cli("init")
    first = cli("backup").stdout.strip()
    (host_root(cli) / "etc/redis/redis.conf").write_text("bind 127.0.0.1\n# changed\n")
    buggy = with_bug_at(cli, "backup:before-manifest")
    failed = buggy("backup", expect=1)
    assert failed.stderr == (
        "drtool: internal error: InjectedBug: injected at the test point backup:before-manifest"
        " (run with --debug for a traceback)\n"
    )
    assert failed.stdout == ""
    assert snapshot_ids(cli) == [first], "no snapshot committed"
    # --debug: the traceback goes to stderr, then the same one line closes it.
    debugged = buggy("--debug", "backup", expect=1, one_line=False).stderr
    assert "Traceback (most recent call last):" in debugged
    assert 'drtool/testpoint.py", line' in debugged
    assert debugged.splitlines()[-1] == failed.stderr.strip()
    assert snapshot_ids(cli) == [first]
    cli("check", "--read-data")


def test_an_internal_error_mid_restore_exits_1_and_leaves_its_journal_to_roll_back(
    cli: Cli, incident: tuple[dict, dict]
) -> None:
    """A bug after nginx's tree went in: exit 1 in one line; the next restore is refused (25)
    with advice, and that advice, run as printed, puts the host back as it was."""
    _, damaged = incident
    failed = with_bug_at(cli, "restore:applied nginx")("restore", "--yes", expect=1)
    assert failed.stderr.startswith("drtool: internal error: InjectedBug: ")
    assert owned_listing(host_root(cli)) != damaged, "the bug struck half-way through"
    refused = cli("restore", "--yes", expect=25).stderr
    follow(cli, refused, "--rollback")
    assert owned_listing(host_root(cli)) == damaged


FIREWALL_ONLY = """\
[backup]
kinds = ["iptables"]
"""
RULE = "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
# What iptables-nft-save says when it may not read the ruleset.
REFUSAL = (
    "iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: "
    "Permission denied (you must be root)"
)


@pytest.mark.real_parts("iptables", "netns")
def test_a_firewall_that_cannot_be_read_fails_the_backup_with_20_and_writes_nothing(
    netns: str, tmp_path: Path
) -> None:
    (tmp_path / "drtool.toml").write_text(FIREWALL_ONLY)
    (tmp_path / "root").mkdir()
    cli = Cli(cli_environment(tmp_path, tmp_path / "root", tmp_path / "drtool.toml"))
    cli.environment["DRTOOL_NETNS"] = netns
    run_in(netns, "iptables", *RULE.split())
    cli("init")
    first = cli("backup").stdout.strip()
    assert snapshot_ids(cli) == [first]  # which also writes the listing's cache, index/web-1
    before_repository = repository_files(cli)
    before_rules = rules(netns)
    faults = shims(tmp_path / "shims")
    faults.fail("iptables-nft-save", message=REFUSAL)
    failing = Cli({**cli.environment, "PATH": faults.path(cli.environment["PATH"])})
    failed = failing("backup", expect=20)
    assert failed.stderr.startswith("drtool: error: iptables: cannot read the nft v4 rules: ")
    assert "Permission denied (you must be root)" in failed.stderr
    assert faults.calls("iptables-nft-save"), "the real tool's place was taken by the shim"
    assert repository_files(cli) == before_repository, "nothing written to the repository"
    assert snapshot_ids(cli) == [first]
    assert rules(netns) == before_rules
    # The same backup once the tool can read again: the rule is in it, as iptables-save has it.
    faults.clear()
    failing("backup")
    assert RULE in failing("dump", "latest", "iptables:v4").stdout


def test_an_internal_errors_line_withholds_the_secrets_its_message_quotes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """In-process, as `drtool snapshots` runs: a bug whose exception quotes the passphrase it
    was given, a WireGuard key and a PEM private key (what a library handed a secret may say)
    prints one line without them, as the logs would."""
    passphrase = f"passphrase-{os.urandom(8).hex()}"
    wireguard = base64.b64encode(os.urandom(32)).decode()
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )

    def buggy(context: Context, *_: object, **__: object) -> None:
        given = context.passphrase.read().decode()
        raise ValueError(f"key {given!r}: cannot parse PrivateKey = {wireguard} near\n{pem}")

    monkeypatch.setattr(Context, "opening", buggy)  # where `snapshots` opens the repository
    monkeypatch.delenv("DRTOOL_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("DRTOOL_PASSWORD", passphrase)
    monkeypatch.setattr(sys, "argv", ["drtool", "--repo", str(tmp_path), "snapshots"])
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))  # setup_logging
    with pytest.raises(SystemExit) as ended:
        run()
    assert ended.value.code == 1
    printed = capsys.readouterr().err
    body = "".join(pem.splitlines()[1:-1])
    for secret in (passphrase, wireguard, body, "PRIVATE KEY"):
        assert secret not in printed
    assert printed == (
        "drtool: internal error: ValueError: key '<redacted>': cannot parse PrivateKey = "
        "<redacted> near <redacted> (run with --debug for a traceback)\n"
    )
