"""A run without the real parts is never green: under CI a missing part fails, naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def without_sbin() -> dict[str, str]:
    """Debian's default PATH for an ordinary user: no /usr/sbin, so no nginx, ip, iptables…"""
    environment = {k: v for k, v in os.environ.items() if k != "DRTOOL_REAL_PARTS"}
    environment["PATH"] = os.pathsep.join(
        entry for entry in os.environ["PATH"].split(os.pathsep) if not entry.endswith("sbin")
    )
    return environment


def test_the_up_front_check_names_what_is_missing_in_one_line() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "tests.support.real_parts"],
        cwd=PROJECT,
        env=without_sbin(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 1
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("real parts missing: ")
    for part in ("nginx (missing nginx)", "dockerd (missing dockerd)", "iptables-nft (missing"):
        assert part in lines[0]


def test_the_up_front_check_passes_with_sbin_on_the_path() -> None:
    environment = {**os.environ, "PATH": f"{os.environ['PATH']}:/usr/sbin:/sbin"}
    checked = subprocess.run(
        [sys.executable, "-m", "tests.support.real_parts"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (checked.returncode, checked.stderr) == (0, "")


def run_nginx_tests(**variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            "tests/integration/test_nginx.py",
        ],
        cwd=PROJECT,
        env={**without_sbin(), **variables},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_under_ci_a_missing_part_fails_the_run_and_names_it() -> None:
    run = run_nginx_tests(CI="true")
    assert run.returncode == 1, run.stdout
    assert "real part missing: nginx (missing nginx)" in run.stdout
    assert " skipped" not in run.stdout.splitlines()[-1]


def test_elsewhere_a_missing_part_skips_and_says_why() -> None:
    run = run_nginx_tests(CI="")
    assert run.returncode == 0, run.stdout
    assert "real part missing: nginx" in run.stdout
    assert " passed" not in run.stdout.splitlines()[-1]
