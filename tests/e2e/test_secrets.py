"""Secrets never printed: every secret form a host holds, through every command that turns a
snapshot into output (diff, diff --json, restore --dry-run, show, restore's report), with the
logs of -v and --debug. The oracle is the secrets themselves, searched for in stdout and stderr."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import EXAMPLES, Cli, cli_environment

REDIS_ACL_PASSWORD = "acl-s3cret-{}"
REQUIREPASS = "requirepass-s3cret-{}"
PG_MARKER = "host all all 10.99.{}.0/24 md5  # pg-secret-marker-{}"


def _wg_key() -> str:
    return subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout


def _pem_key() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _htpasswd_hash() -> str:
    return subprocess.run(
        ["openssl", "passwd", "-apr1", "hunter2"], capture_output=True, text=True, check=True
    ).stdout.strip()


def plant_secrets(root: Path, generation: int) -> list[str]:
    """Write one generation of every secret form on the host; return the secret strings."""
    bare_key, postup_key, pem, htpasswd = _wg_key(), _wg_key(), _pem_key(), _htpasswd_hash()
    wireguard = root / "etc/wireguard"
    (wireguard / "privatekey").write_text(bare_key)
    (wireguard / "privatekey").chmod(0o600)
    config = wireguard / "wg0.conf"
    lines = [line for line in config.read_text().splitlines() if not line.startswith("PostUp")]
    index = lines.index("[Interface]") + 1
    lines.insert(index, f"PostUp = wg set %i private-key <(echo {postup_key.strip()})")
    config.write_text("\n".join(lines) + "\n")
    (root / "etc/nginx/ssl").mkdir(exist_ok=True)
    (root / "etc/nginx/ssl/server.key").write_text(pem)
    (root / "etc/nginx/.htpasswd").write_text(f"admin:{htpasswd}\n")
    redis = root / "etc/redis/redis.conf"
    kept = [
        line
        for line in redis.read_text().splitlines()
        if not line.startswith(("user ", "requirepass"))
    ]
    acl = REDIS_ACL_PASSWORD.format(generation)
    redis.write_text(
        "\n".join(
            [
                *kept,
                f"user alice on >{acl} ~* +@all",
                f"requirepass {REQUIREPASS.format(generation)}",
            ]
        )
        + "\n"
    )
    pg_hba = root / "etc/postgresql/15/main/pg_hba.conf"
    pg_hba.write_text(pg_hba.read_text() + PG_MARKER.format(generation, generation) + "\n")
    pem_body = pem.splitlines()[1]
    return [
        bare_key.strip(),
        postup_key.strip(),
        pem_body,
        htpasswd,
        acl,
        REQUIREPASS.format(generation),
        f"pg-secret-marker-{generation}",
    ]


def _run(cli: Cli, *arguments: str) -> subprocess.CompletedProcess[str]:
    """drtool as an operator runs it; a diff may exit 3 (differences found) as well as 0."""
    completed = cli.run(*arguments)
    assert completed.returncode in (0, 3), f"{arguments}: {completed.stderr}"
    return completed


@pytest.fixture
def secret_cli(tmp_path: Path, sample_root: Path) -> Cli:
    config = tmp_path / "drtool.toml"
    config.write_text(
        (EXAMPLES / "drtool.toml").read_text()
        + '\n[diff]\nsecret_paths = ["/etc/postgresql/*/main/pg_hba.conf"]\n'
    )
    return Cli(cli_environment(tmp_path, sample_root, config))


def test_no_secret_reaches_any_output(secret_cli: Cli, tmp_path: Path) -> None:
    root = Path(secret_cli.environment["DRTOOL_ROOT"])
    secret_cli("init")
    secrets = plant_secrets(root, 1)
    first = secret_cli("backup").stdout.strip()
    secrets += plant_secrets(root, 2)
    second = secret_cli("backup").stdout.strip()
    secrets += plant_secrets(root, 3)  # the live host differs from both snapshots
    outputs = []
    for verbosity in ((), ("-v",), ("--debug",)):
        for command in (
            ("diff", first, second),
            ("diff", first, second, "--json"),
            ("diff", first),
            ("diff", first, "--json"),
            ("restore", "--dry-run", first),
            ("restore", "--dry-run", "--json", first),
            ("show", second),
            ("show", "--json", second),
        ):
            outputs.append(_run(secret_cli, *verbosity, *command))
    target = tmp_path / "target"
    outputs.append(secret_cli("--debug", "restore", first, "--target", str(target), "--json"))
    leaked = [
        (" ".join(map(str, result.args[3:])), secret)
        for result in outputs
        for secret in secrets
        if secret in result.stdout or secret in result.stderr
    ]
    assert not leaked
    changes = outputs[1].stdout
    assert '"content": "content changed (redacted)"' in changes
    assert "/etc/nginx/ssl/server.key" in changes and "/etc/nginx/.htpasswd" in changes
    assert "a secret changed (redacted)" in changes  # redis.conf: ACL and requirepass
    # The files themselves came back whole: only their display is redacted.
    assert (target / "etc/wireguard/privatekey").read_text().strip() == secrets[0]


@pytest.mark.parametrize(
    "path",
    [
        "/etc/wireguard/privatekey",
        "/etc/wireguard/wg0.conf",
        "/etc/nginx/ssl/server.key",
        "/etc/nginx/.htpasswd",
        "/etc/postgresql/15/main/pg_hba.conf",
    ],
)
def test_dump_withholds_a_secret_file_unless_asked(secret_cli: Cli, path: str) -> None:
    """dump prints a file whole, so a secret file is not printed at all without --secrets (exit
    28, one line naming it); with --secrets it comes out byte for byte."""
    root = Path(secret_cli.environment["DRTOOL_ROOT"])
    secret_cli("init")
    secrets = plant_secrets(root, 1)
    snapshot = secret_cli("backup").stdout.strip()
    refused = secret_cli("dump", snapshot, path, expect=28)
    assert refused.stdout == "" and path in refused.stderr and "--secrets" in refused.stderr
    assert not [secret for secret in secrets if secret in refused.stderr]
    printed = secret_cli("dump", snapshot, path, "--secrets")
    assert printed.stdout == (root / path.lstrip("/")).read_text()
