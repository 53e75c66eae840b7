"""The README's install lines as written, on Debian's own Python (a venv: Debian 12 refuses a
bare pip install), into a temporary prefix; then every systemd unit of schedules/ passes
`systemd-analyze verify` with drtool where the units say it is (/usr/local/bin, bound over in a
private mount namespace so the machine's own is never touched)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def readme_install_lines() -> list[str]:
    text = (REPOSITORY / "README.md").read_text()
    section = text.split("## Install", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0] for line in block.splitlines() if not line.startswith("apt-get")]


@pytest.mark.slow
def test_the_readme_install_works_and_the_units_verify(tmp_path: Path) -> None:
    environment = {**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # Debian's python3
    for line in readme_install_lines():
        line = line.replace("/opt/drtool", str(tmp_path / "opt/drtool"))
        line = line.replace("/usr/local/bin", str(tmp_path / "bin"))
        (tmp_path / "bin").mkdir(exist_ok=True)
        subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=REPOSITORY,
            env=environment,
            check=True,
            capture_output=True,
        )
    drtool = tmp_path / "bin/drtool"
    version = subprocess.run([drtool, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("drtool, version")
    units = sorted(
        str(path)
        for pattern in ("*.service", "*.timer", "*.path")
        for path in (REPOSITORY / "schedules").glob(pattern)
    )
    script = (
        f"mount --bind {shlex.quote(str(tmp_path / 'bin'))} /usr/local/bin && "
        f"systemd-analyze verify {' '.join(map(shlex.quote, units))}"
    )
    verified = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "not executable" not in verified.stderr
