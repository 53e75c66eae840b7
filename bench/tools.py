"""The tools the bench measures: drtool (with a passphrase, and as the README sets up a
nightly host: a writer credential), restic and borg, each as a command line per step."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

PASSPHRASE = "bench passphrase, not a secret"


class Tool:
    name: str
    suffix = ""  # a set-up of the same tool measured beside its default one: its metrics' suffix

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        self.work, self.root, self.netns = work, root, netns
        self.env = {**os.environ}

    def repository(self, label: str) -> Path:
        return self.work / f"{self.name}-{label}"

    def init(self, repo: Path) -> None: ...
    def backup(self, repo: Path) -> list[str]: ...
    def restore(self, repo: Path, target: Path) -> tuple[list[str], Path | None]: ...


class Drtool(Tool):
    name = "drtool"

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        super().__init__(work, root, netns)
        config = work / "drtool.toml"
        config.write_text(
            '[backup]\nkinds = ["wireguard", "nginx", "iptables", "fail2ban", "files"]\n'
            '[files]\npaths = ["/var/lib/bench-dumps/docker-networks.json"]\n'
        )
        self.env.update(
            DRTOOL_ROOT=str(root),
            DRTOOL_NETNS=netns,
            DRTOOL_CONFIG=str(config),
            DRTOOL_PASSWORD=PASSPHRASE,
            DRTOOL_HOST="bench",
        )

    def _drtool(self, repo: Path, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "drtool", "--repo", str(repo), *arguments]

    def init(self, repo: Path) -> None:
        subprocess.run(self._drtool(repo, "init"), env=self.env, check=True, capture_output=True)

    def backup(self, repo: Path) -> list[str]:
        return self._drtool(repo, "backup")

    def restore(self, repo: Path, target: Path) -> tuple[list[str], Path | None]:
        return self._drtool(repo, "restore", "latest", "--target", str(target)), None


class DrtoolWriter(Drtool):
    """drtool as the README sets up a nightly host: a write-only credential (`drtool key
    add-writer`, DRTOOL_KEY_FILE), no passphrase, so no KDF. Its figures are drtool's, each
    metric named with ``_writer`` (its own repositories: the files cache is per repository)."""

    suffix = "_writer"

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        super().__init__(work, root, netns)
        self.operator_env = dict(self.env)  # the passphrase: what init and add-writer need
        del self.env["DRTOOL_PASSWORD"]

    def repository(self, label: str) -> Path:
        return self.work / f"drtool-writer-{label}"

    def init(self, repo: Path) -> None:
        credential = repo.with_name(f"{repo.name}.key")
        for command in (
            self._drtool(repo, "init"),
            self._drtool(repo, "key", "add-writer", "--host", "bench", "--output", str(credential)),
        ):
            subprocess.run(command, env=self.operator_env, check=True, capture_output=True)

    def backup(self, repo: Path) -> list[str]:
        key_file = repo.with_name(f"{repo.name}.key")
        return [*self._drtool(repo, "--key-file", str(key_file)), "backup"]


# drtool's own state under the host root (format 2's files cache): not the peers' to back up.
STATE = "var/lib/drtool"


class Restic(Tool):
    name = "restic"

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        super().__init__(work, root, netns)
        self.env.update(RESTIC_PASSWORD=PASSPHRASE, RESTIC_CACHE_DIR=str(work / "restic-cache"))

    def init(self, repo: Path) -> None:
        subprocess.run(
            ["restic", "init", "--repo", str(repo)], env=self.env, check=True, capture_output=True
        )

    def backup(self, repo: Path) -> list[str]:
        return [
            "restic", "--repo", str(repo), "backup", "--quiet",
            "--exclude", str(self.root / STATE), str(self.root),
        ]  # fmt: skip

    def restore(self, repo: Path, target: Path) -> tuple[list[str], Path | None]:
        return ["restic", "--repo", str(repo), "restore", "latest", "--target", str(target)], None


class Borg(Tool):
    name = "borg"

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        super().__init__(work, root, netns)
        self.env.update(
            BORG_PASSPHRASE=PASSPHRASE,
            BORG_BASE_DIR=str(work / "borg-home"),
            BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
        )

    def init(self, repo: Path) -> None:
        subprocess.run(
            ["borg", "init", "--encryption=repokey", str(repo)],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def backup(self, repo: Path) -> list[str]:
        return [
            "borg", "create", "--exclude", str(self.root / STATE),
            f"{repo}::{secrets.token_hex(6)}", str(self.root),
        ]  # fmt: skip

    def restore(self, repo: Path, target: Path) -> tuple[list[str], Path | None]:
        listing = subprocess.run(
            ["borg", "list", "--last", "1", "--short", str(repo)],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return ["borg", "extract", f"{repo}::{listing.stdout.strip()}"], target


def available_tools(work: Path, root: Path, netns: str) -> list[Tool]:
    tools: list[Tool] = [Drtool(work, root, netns), DrtoolWriter(work, root, netns)]
    tools += [
        kind(work, root, netns)
        for kind, binary in ((Restic, "restic"), (Borg, "borg"))
        if shutil.which(binary)
    ]
    return tools
