"""Network namespaces made by the tests, so that no test ever touches the machine's own rules."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import pytest


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


@contextlib.contextmanager
def network_namespace() -> Iterator[str]:
    """A fresh, empty network namespace, deleted afterwards (the test is skipped where none
    can be made)."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed; scripts/test installs it")
    name = f"drtool-{secrets.token_hex(4)}"
    created = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {created.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace() as name:
        yield name
