"""drtool diff and restore --dry-run as an operator runs them: semantic, secrets redacted,
and nothing changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Cli, tree_listing
from tests.support.netns import run_in

OLD_KEY = "sGMqP0cWiUXmWTCeUmC1FsOSSuE8ox4ugX6ZhYLBM2A="
NEW_KEY = "aGVsbG8gd29ybGQgdGhpcyBpcyAzMiBieXRlcyBsb25nIQ="
PRESHARED = "cHJlc2hhcmVkIGtleSBmb3IgdGhlIGRpZmYgdGVzdHMhIQ="
NEW_PEER = "Yw2kdTN8Z2Fk2ZZPM1B/0N+LMhZEy4lhNHfSVQRm1Ss="


def host_root(cli: Cli) -> Path:
    return Path(cli.environment["DRTOOL_ROOT"])


def snapshot_id(cli: Cli) -> str:
    return json.loads(cli("backup", "--json").stdout)["id"]


def edit(root: Path) -> None:
    wg = root / "etc/wireguard/wg0.conf"
    peer = (
        f"\n[Peer]\nPublicKey = {NEW_PEER}\nPresharedKey = {PRESHARED}\nAllowedIPs = 10.0.0.3/32\n"
    )
    wg.write_text(wg.read_text().replace(OLD_KEY, NEW_KEY) + peer)
    (root / "etc/nginx/nginx.conf").write_text(
        (root / "etc/nginx/nginx.conf")
        .read_text()
        .replace("worker_connections 1024", "worker_connections 4096")
    )
    (root / "etc/nginx/snippets/admin-allowlist.conf").chmod(0o600)
    link = root / "etc/nginx/sites-enabled/toolboxai"
    link.unlink()
    link.symlink_to("../sites-available/toolboxai")
    (root / "etc/fail2ban/jail.local").unlink()


def test_diff_of_two_snapshots_is_semantic_and_redacted(cli: Cli) -> None:
    cli("init")
    first = snapshot_id(cli)
    edit(host_root(cli))
    second = snapshot_id(cli)
    result = cli("diff", first, second, "--json", expect=3, one_line=False)
    for secret in (OLD_KEY, NEW_KEY, PRESHARED):
        assert secret not in result.stdout and secret not in result.stderr
    changes = json.loads(result.stdout)
    wireguard = changes["wireguard"]["interface wg0"]
    assert wireguard["peers added"] == [NEW_PEER]
    assert wireguard["private key"] == "changed (redacted)"
    nginx = {item["path"]: item for item in changes["nginx"]["changed"]}
    assert "+    worker_connections 4096;" in nginx["/etc/nginx/nginx.conf"]["content"]
    assert nginx["/etc/nginx/snippets/admin-allowlist.conf"]["mode"] == "0644 -> 0600"
    assert nginx["/etc/nginx/sites-enabled/toolboxai"]["link"] == (
        "/etc/nginx/sites-available/toolboxai -> ../sites-available/toolboxai"
    )
    assert changes["fail2ban"]["removed"] == ["/etc/fail2ban/jail.local"]
    human = cli("diff", first, second, expect=3, one_line=False).stdout
    assert "private key" in human and NEW_KEY not in human
    assert "content changed (redacted)" in human


@pytest.mark.usefixtures("backed_up")
def test_dry_run_shows_the_plan_and_the_diff_and_changes_nothing(cli: Cli) -> None:
    root = host_root(cli)
    edit(root)
    before = tree_listing(root)
    plan = json.loads(cli("restore", "--dry-run", "--json").stdout)
    assert plan["order"] == ["wireguard", "nginx", "fail2ban", "files"]
    assert plan["changes"]["fail2ban"]["added"] == ["/etc/fail2ban/jail.local"]
    assert "dry run: nothing changed" in cli("restore", "--dry-run").stdout
    assert tree_listing(root) == before
    assert not os.path.exists(root / "var/lib/drtool/restore")


def test_firewall_diff_against_the_live_host(cli: Cli, netns: str) -> None:
    seed = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    run_in(netns, "iptables-restore", input_text=seed)
    cli.environment["DRTOOL_NETNS"] = netns
    cli("init")
    cli("backup")
    run_in(netns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT")
    run_in(netns, "iptables", "-P", "INPUT", "ACCEPT")
    diffed = cli("diff", "latest", "--only", "iptables", "--json", expect=3, one_line=False)
    assert json.loads(diffed.stdout)["iptables"]["chains"]["v4 filter INPUT"] == [
        "- :INPUT DROP",
        "+ :INPUT ACCEPT",
        "  -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
        "+ -A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT",
    ]


ADMINS_FIRST = """\
*filter
:INPUT DROP [0:0]
-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j DROP
COMMIT
"""


def test_a_moved_rule_is_a_difference_shown_in_iptables_syntax(cli: Cli, netns: str) -> None:
    """The DROP moved above the admins' ACCEPT locks every admin out: the diff says so, and
    exits 3 (0 when nothing differs), as cron and CI expect."""
    run_in(netns, "iptables-restore", input_text=ADMINS_FIRST)
    cli.environment["DRTOOL_NETNS"] = netns
    cli("init")
    cli("backup")
    assert cli("diff", "latest", "--only", "iptables").stdout.strip() == "no differences"
    run_in(netns, "iptables", "-D", "INPUT", "2")
    run_in(netns, "iptables", "-I", "INPUT", "1", "-p", "tcp", "--dport", "22", "-j", "DROP")
    human = cli("diff", "latest", "--only", "iptables", expect=3, one_line=False).stdout
    assert human.splitlines()[-5:] == [
        "    v4 filter INPUT:",
        "        :INPUT DROP",
        "      + -A INPUT -p tcp -m tcp --dport 22 -j DROP",
        "        -A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -j ACCEPT",
        "      - -A INPUT -p tcp -m tcp --dport 22 -j DROP",
    ]
    assert "{" not in human and "'" not in human  # no Python repr
    plan = cli("restore", "--dry-run", "--only", "iptables").stdout
    # the plan goes the other way, live -> snapshot: the admins' ACCEPT moves back up
    assert "+ -A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -j ACCEPT" in plan


def test_a_moved_nft_statement_is_a_difference_shown_in_nft_syntax(cli: Cli, netns: str) -> None:
    ruleset = (
        "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 0; "
        "policy drop;\n\t\tip saddr 203.0.113.0/24 tcp dport 22 accept\n"
        "\t\ttcp dport 22 drop\n\t}\n}\n"
    )
    run_in(netns, "nft", "-f", "-", input_text=ruleset)
    cli.environment["DRTOOL_NETNS"] = netns
    cli("init")
    cli("backup")
    run_in(netns, "nft", "flush", "chain", "inet", "filter", "input")
    run_in(netns, "nft", "add", "rule", "inet", "filter", "input", "tcp", "dport", "22", "drop")
    run_in(
        netns, "nft", "add", "rule", "inet", "filter", "input",
        "ip", "saddr", "203.0.113.0/24", "tcp", "dport", "22", "accept",
    )  # fmt: skip
    diffed = cli("diff", "latest", "--only", "nftables", "--json", expect=3, one_line=False)
    assert json.loads(diffed.stdout)["nftables"]["chains"]["table inet filter chain input"] == [
        "  type filter hook input priority filter; policy drop;",
        "+ tcp dport 22 drop",
        "  ip saddr 203.0.113.0/24 tcp dport 22 accept",
        "- tcp dport 22 drop",
    ]


def test_what_others_own_at_run_time_is_no_drift(cli: Cli, netns: str) -> None:
    """A fail2ban ban, docker's chains and tables change by themselves, and a restore leaves
    them as they are: diff stays quiet (exit 0), so cron alerts only on the host's own rules."""
    run_in(netns, "iptables-restore", input_text=ADMINS_FIRST)
    run_in(netns, "nft", "add", "table", "inet", "hostfw")
    cli.environment["DRTOOL_NETNS"] = netns
    cli("init")
    cli("backup")
    run_in(netns, "iptables", "-N", "f2b-sshd")
    run_in(netns, "iptables", "-A", "f2b-sshd", "-s", "192.0.2.66", "-j", "REJECT")
    run_in(netns, "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "22", "-j", "f2b-sshd")
    run_in(netns, "nft", "add", "table", "ip", "docker-bridges")
    assert cli("diff", "latest", "--only", "iptables,nftables").stdout.strip() == "no differences"
