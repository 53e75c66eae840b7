"""The real parts the tests run (Debian's own binaries), and what a test does when one is missing.

A test names the parts it needs with ``@pytest.mark.real_parts("nginx", ...)`` (or a fixture calls
:func:`require`). On a developer's machine a missing part skips the test; under ``CI=true`` or
``DRTOOL_REAL_PARTS=required`` (``./scripts/test`` sets it) it is a failure naming the part: a
green run without the real parts would prove nothing.

``python -m tests.support.real_parts`` checks every part up front and says in one line what is
missing (exit 1), so that ``./scripts/test`` stops before running anything.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

# part -> the executables (or absolute files) it needs.
PARTS: dict[str, tuple[str, ...]] = {
    "netns": ("ip", "nsenter"),
    "iptables-nft": ("iptables-nft-restore", "iptables-nft-save", "ip6tables-nft-restore"),
    "iptables-legacy": ("iptables-legacy-restore", "iptables-legacy-save"),
    "iptables": ("iptables", "iptables-save", "iptables-restore", "ip6tables-save"),
    "nft": ("nft",),
    "nginx": ("nginx",),
    "fail2ban": ("fail2ban-client", "fail2ban-server"),
    "wireguard": ("wg", "wg-quick", "wireguard-go"),
    "dockerd": ("dockerd", "nsenter", "/bin/busybox"),
    "radosgw": ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph"),
    "faketime": ("faketime",),
    "bwrap": ("bwrap",),
    "gcc": ("gcc",),  # a real nginx module whose constructor would run, for the hooks' tests
}


def required() -> bool:
    """Whether a missing part fails the run (CI, ./scripts/test) rather than skipping."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("DRTOOL_REAL_PARTS") == "required"
    )


def missing_tools(part: str) -> list[str]:
    return [
        tool
        for tool in PARTS[part]
        if not (Path(tool).exists() if tool.startswith("/") else shutil.which(tool))
    ]


@functools.cache
def namespace_error() -> str:
    """Why no network namespace can be made here ('' when one can)."""
    if shutil.which("ip") is None:
        return "no ip (iproute2) on PATH"
    name = f"drtool-probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return made.stderr.strip() or f"ip netns add exited {made.returncode}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return ""


def problem(part: str) -> str:
    """What is wrong with ``part`` here, or '' when it is all there."""
    missing = missing_tools(part)
    if missing:
        return f"{part} (missing {', '.join(missing)})"
    if part == "netns" and namespace_error():
        return f"netns (cannot create a network namespace: {namespace_error()})"
    return ""


def require(*parts: str) -> None:
    """Skip the calling test, or fail it under CI, unless every part is here."""
    import pytest

    problems = [found for part in parts if (found := problem(part))]
    if not problems:
        return
    message = f"real part missing: {'; '.join(problems)}; scripts/test installs them"
    if required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def main() -> int:
    problems = [found for part in PARTS if (found := problem(part))]
    if problems:
        print(f"real parts missing: {'; '.join(problems)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
