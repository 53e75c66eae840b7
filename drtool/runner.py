"""The one seam through which drtool runs external commands.

It logs what it runs (never a secret's output), applies a timeout, and turns every failure into
a one-line CommandFailed. Tests that need a fake command swap the runner, nothing deeper.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from drtool.errors import DrtoolError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0


class CommandFailed(DrtoolError):
    """An external command failed, timed out or could not be started; ``stderr`` holds what it
    said, for the callers that report a tool's own message (validation)."""

    def __init__(self, message: str, stderr: bytes = b"") -> None:
        super().__init__(message)
        self.stderr = stderr


@dataclass(frozen=True)
class Runner:
    """``netns``: the network namespace the network commands (firewall, WireGuard, fail2ban)
    run in (``ip netns exec``); None for the host's own."""

    timeout: float = DEFAULT_TIMEOUT
    netns: str | None = None

    def run(
        self,
        argv: Sequence[str],
        *,
        input_bytes: bytes | None = None,
        secret_output: bool = False,
        timeout: float | None = None,
        label: str | None = None,
        in_netns: bool = False,
    ) -> bytes:
        """Run ``argv`` and return its standard output.

        Raise CommandFailed, with the first line of its standard error, if it exits non-zero.
        ``secret_output`` keeps the output out of logs and error messages; ``label`` replaces
        the command line in them (a command line may itself hold a secret). ``in_netns`` runs
        it in the runner's network namespace, if it has one.
        """
        if in_netns and self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        label = label or " ".join(argv)
        log.debug("running %s", label)
        try:
            completed = subprocess.run(
                list(argv),
                input=input_bytes,
                capture_output=True,
                timeout=timeout or self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise CommandFailed(f"{argv[0]}: command not found") from None
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"{label}: timed out after {timeout or self.timeout:g} s") from None
        if completed.returncode != 0:
            detail = "" if secret_output else first_line(completed.stderr)
            raise CommandFailed(
                f"{label}: exit status {completed.returncode}" + (f": {detail}" if detail else ""),
                b"" if secret_output else completed.stderr,
            )
        return completed.stdout

    def run_shell(
        self,
        command: str,
        *,
        secret_output: bool = False,
        label: str | None = None,
        in_netns: bool = False,
    ) -> bytes:
        """Run an operator-written command line (from the config or an option) with sh."""
        return self.run(
            ["sh", "-c", command], secret_output=secret_output, label=label, in_netns=in_netns
        )


def first_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[0].strip() if lines else ""
