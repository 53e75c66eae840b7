"""Network namespaces made by the tests, so that no test ever touches the machine's own rules."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.real_parts import require


def run_in(namespace: str, *argv: str, input_text: str | None = None) -> str:
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        input=input_text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} in {namespace}: {completed.stderr.strip()}")
    return completed.stdout


def in_root_view(root: Path, *argv: str) -> list[str]:
    """``argv`` with the sandbox root's own /run (as drtool runs a sandbox host's service
    commands): a userspace WireGuard's socket lands in ``root``/run/wireguard, not the
    machine's, where another test's wg0 may be."""
    (root / "run").mkdir(parents=True, exist_ok=True)
    return [
        "bwrap", "--bind", "/", "/", "--dev-bind", "/dev", "/dev", "--proc", "/proc",
        "--bind", str(root / "run"), "/run", "--", *argv,
    ]  # fmt: skip


@contextlib.contextmanager
def network_namespace() -> Iterator[str]:
    """A fresh, empty network namespace, deleted afterwards (real_parts.require: skipped where
    none can be made, a failure under CI)."""
    require("netns")
    name = f"drtool-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace() as name:
        yield name
