"""The one seam through which drtool runs external commands.

It logs what it runs (never a secret's output), applies a timeout, and turns every failure into
a one-line CommandFailed. Tests that need a fake command swap the runner, nothing deeper.

Every child gets an explicit environment (:func:`child_environment`): a search path and a
locale, never drtool's own (the passphrase in ``DRTOOL_PASSWORD``, cloud credentials). A tool
run from a snapshot's configuration (an nginx module, a wg-quick hook) must find nothing there
worth stealing.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from drtool.config import TOOL_TIMEOUT
from drtool.errors import DrtoolError
from drtool.sandbox import in_host_view

log = logging.getLogger(__name__)
T = TypeVar("T")

# Where the tools live: sbin included (cron and some sudo setups leave it out).
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# The only variables of drtool's own environment a child sees.
_PASSED_THROUGH = ("HOME", "TZ")


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: the caller's PATH with the system's directories after
    it, a UTF-8 locale, HOME and TZ, and ``extra`` (what one tool needs, such as
    ``WG_QUICK_USERSPACE_IMPLEMENTATION``). Nothing else of drtool's environment."""
    given = [entry for entry in os.environ.get("PATH", "").split(":") if entry]
    path = list(dict.fromkeys([*given, *SYSTEM_PATH]))
    environment = {"PATH": ":".join(path), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    environment.update({name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ})
    environment.update(extra or {})
    return environment


def operator_environment() -> dict[str, str]:
    """The environment of a command the operator wrote to fetch the passphrase (a vault
    client may need the operator's variables): drtool's own, less its passphrase."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("DRTOOL_PASSWORD", "DRTOOL_PASSWORD_FILE", "DRTOOL_PASSWORD_COMMAND")
    }


class CommandFailed(DrtoolError):
    """An external command failed, timed out or could not be started; ``stderr`` holds what it
    said, for the callers that report a tool's own message (validation)."""

    def __init__(self, message: str, stderr: bytes = b"") -> None:
        super().__init__(message)
        self.stderr = stderr


@dataclass(frozen=True)
class Runner:
    """``netns``: the network namespace the host's service and network commands (firewall,
    WireGuard, fail2ban, nginx) run in (``ip netns exec``); None for the machine's own.
    ``view_root``: for a sandbox host, its root: those commands then run in its own mount view
    (drtool.sandbox.in_host_view), never against the machine's /etc, /run or /var."""

    timeout: float = TOOL_TIMEOUT  # drtool.toml's [tools] timeout
    netns: str | None = None
    view_root: Path | None = None

    def scoped(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as a command of the host's services: in its mount view and namespace."""
        if self.view_root is not None:
            argv = in_host_view(self.view_root, argv)
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        return list(argv)

    def run(
        self,
        argv: Sequence[str],
        *,
        input_bytes: bytes | None = None,
        secret_output: bool = False,
        timeout: float | None = None,
        label: str | None = None,
        in_netns: bool = False,
        environment: Mapping[str, str] | None = None,
    ) -> bytes:
        """Run ``argv`` and return its standard output.

        Raise CommandFailed, with the first line of its standard error, if it exits non-zero.
        ``secret_output`` keeps the output out of logs and error messages; ``label`` replaces
        the command line in them (a command line may itself hold a secret). ``in_netns`` runs
        it where the host's services run (:meth:`scoped`). ``environment`` replaces the
        child's environment (default: :func:`child_environment`).
        """
        label = label or " ".join(argv)
        if in_netns:
            argv = self.scoped(argv)
        log.debug("running %s", label)
        try:
            completed = subprocess.run(
                list(argv),
                input=input_bytes,
                capture_output=True,
                timeout=timeout or self.timeout,
                check=False,
                env=dict(environment) if environment is not None else child_environment(),
            )
        except FileNotFoundError:
            raise CommandFailed(f"{argv[0]}: command not found") from None
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"{label}: timed out after {timeout or self.timeout:g} s") from None
        if completed.returncode != 0:
            detail = "" if secret_output else telling_line(completed.stderr)
            raise CommandFailed(
                f"{label}: exit status {completed.returncode}" + (f": {detail}" if detail else ""),
                b"" if secret_output else completed.stderr,
            )
        return completed.stdout

    def run_streamed(
        self, argv: Sequence[str], consume: Callable[[Iterator[str]], T], *, in_netns: bool = False
    ) -> T:
        """Run ``argv`` and return ``consume`` of its standard output's lines (UTF-8 text, each
        with its ``\n``), read as the command prints them: an output of tens of MiB (iptables-save
        of 500,000 rules) is never held whole. ``consume`` reads to the end (a command left
        writing runs into the timeout). Fails as :meth:`run` does: a non-zero exit or the
        timeout is a CommandFailed, whatever ``consume`` made of the output cut short."""
        label = " ".join(argv)
        if in_netns:
            argv = self.scoped(argv)
        log.debug("running %s", label)
        with tempfile.TemporaryFile() as errors:
            try:
                process = subprocess.Popen(
                    list(argv), stdout=subprocess.PIPE, stderr=errors, env=child_environment()
                )
            except FileNotFoundError:
                raise CommandFailed(f"{argv[0]}: command not found") from None
            expired = threading.Event()
            timer = threading.Timer(self.timeout, lambda: (expired.set(), process.kill()))
            timer.start()
            try:
                output = process.stdout
                assert output is not None
                with io.TextIOWrapper(output, encoding="utf-8", newline="\n") as text:
                    result = consume(text)
                returncode = process.wait()
            except Exception:
                returncode = _ended(process)
                if returncode in (0, -signal.SIGPIPE) and not expired.is_set():
                    raise  # the output was at fault, not the command
            except BaseException:  # Ctrl-C, SIGTERM: the command goes too
                process.kill()
                process.wait()
                raise
            finally:
                timer.cancel()
            if expired.is_set():
                raise CommandFailed(f"{label}: timed out after {self.timeout:g} s")
            if returncode != 0:
                errors.seek(0)
                said = errors.read()
                detail = telling_line(said)
                raise CommandFailed(
                    f"{label}: exit status {returncode}" + (f": {detail}" if detail else ""), said
                )
        return result

    def run_shell(
        self,
        command: str,
        *,
        secret_output: bool = False,
        label: str | None = None,
        in_netns: bool = False,
        environment: Mapping[str, str] | None = None,
    ) -> bytes:
        """Run an operator-written command line (from the config or an option) with sh."""
        return self.run(
            ["sh", "-c", command],
            secret_output=secret_output,
            label=label,
            in_netns=in_netns,
            environment=environment,
        )


def _ended(process: subprocess.Popen[bytes]) -> int:
    """The exit status of a command whose output was closed unread: it ends by itself (its
    output is closed: SIGPIPE if it still writes), or is killed after a few seconds."""
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return 0


# How the tools drtool runs mark the line that says why they failed.
ERROR_MARKERS = ("[emerg]", "[alert]", "[crit]", "[error]", "ERROR", "Error:", "error:")


def telling_line(data: bytes) -> str:
    """The line of a tool's standard error that says why it failed: the first carrying one of
    ERROR_MARKERS (nginx prints ``[notice] signal process started`` before its ``[error]``),
    else the first line."""
    lines = [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]
    marked = [line for line in lines if any(marker in line for marker in ERROR_MARKERS)]
    return (marked or lines or [""])[0]


def tool_error_line(error: CommandFailed, markers: Sequence[str]) -> str:
    """The line of a failed tool's standard error that says why (its first line carrying one of
    ``markers``, such as ``[emerg]`` or ``ERROR``), else its first line, else the error."""
    said = [line.strip() for line in error.stderr.decode(errors="replace").splitlines()]
    marked = [line for line in said if any(marker in line for marker in markers)]
    return (marked or [line for line in said if line] or [str(error)])[0]
