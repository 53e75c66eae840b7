"""Where the repository passphrase comes from: exactly one of env, file, command, or a prompt.

Kept apart from the crypto (keys.py) so that each source is simple and testable on its own.
"""

from __future__ import annotations

import logging
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from drtool.errors import ConfigError, KeyUnavailable
from drtool.redact import withhold

if TYPE_CHECKING:
    from drtool.runner import Runner

log = logging.getLogger(__name__)

NO_PASSPHRASE = (
    "no passphrase: set DRTOOL_PASSWORD_FILE, DRTOOL_PASSWORD or --password-command "
    "(or run on a terminal to be asked)"
)


@dataclass(frozen=True)
class PassphraseSource:
    """A way to obtain the passphrase; ``read`` is called only when a key is needed."""

    describe: str
    read_secret: Callable[[bool], bytes]

    def read(self, *, confirm: bool = False) -> bytes:
        secret = self.read_secret(confirm)
        if not secret:
            raise KeyUnavailable(f"the passphrase from {self.describe} is empty")
        withhold(secret)
        return secret


def passphrase_source(
    environment: Mapping[str, str],
    password_command: str | None,
    runner: Callable[[], Runner],
    interactive: bool | None = None,
) -> PassphraseSource:
    """Given the environment and options, return the one configured passphrase source
    (``runner`` makes the runner of a password command, only when one is run).

    Raise ConfigError if more than one is set.
    """
    chosen = {
        name: value
        for name, value in (
            ("DRTOOL_PASSWORD", environment.get("DRTOOL_PASSWORD")),
            ("DRTOOL_PASSWORD_FILE", environment.get("DRTOOL_PASSWORD_FILE")),
            ("--password-command", password_command),
        )
        if value
    }
    if len(chosen) > 1:
        raise ConfigError(f"set only one passphrase source, not {' and '.join(chosen)}")
    if "DRTOOL_PASSWORD" in chosen:
        value = chosen["DRTOOL_PASSWORD"].encode()
        return PassphraseSource("DRTOOL_PASSWORD", lambda _confirm: value)
    if "DRTOOL_PASSWORD_FILE" in chosen:
        path = Path(chosen["DRTOOL_PASSWORD_FILE"])
        return PassphraseSource(f"file {path}", lambda _confirm: _read_file(path))
    if "--password-command" in chosen:
        command = chosen["--password-command"]
        return PassphraseSource(
            "--password-command", lambda _confirm: _run_command(runner(), command)
        )
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if interactive:
        return PassphraseSource("the terminal", _prompt)
    return PassphraseSource("nowhere", _missing)


def new_passphrase_source(
    environment: Mapping[str, str], interactive: bool | None = None
) -> PassphraseSource:
    """Where a new passphrase (`drtool key add`, `key passwd`) comes from: DRTOOL_NEW_PASSWORD,
    DRTOOL_NEW_PASSWORD_FILE or a prompt (asked twice); never a flag, which argv would show."""
    value, path = (
        environment.get("DRTOOL_NEW_PASSWORD"),
        environment.get("DRTOOL_NEW_PASSWORD_FILE"),
    )
    if value and path:
        raise ConfigError("set only one of DRTOOL_NEW_PASSWORD and DRTOOL_NEW_PASSWORD_FILE")
    if value:
        return PassphraseSource("DRTOOL_NEW_PASSWORD", lambda _confirm: value.encode())
    if path:
        return PassphraseSource(f"file {path}", lambda _confirm: _read_file(Path(path)))
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if interactive:
        return PassphraseSource("the terminal", _prompt_new)
    return PassphraseSource("nowhere", _missing_new)


def _prompt_new(_confirm: bool) -> bytes:
    text = click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True)
    return text.encode()


def _missing_new(_confirm: bool) -> bytes:
    raise KeyUnavailable(
        "no new passphrase: set DRTOOL_NEW_PASSWORD_FILE or DRTOOL_NEW_PASSWORD "
        "(or run on a terminal to be asked)"
    )


def _read_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as error:
        raise KeyUnavailable(f"cannot read passphrase file {path}: {error.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        log.warning("passphrase file %s is readable by others; chmod 600 it", path)
    return _strip_newline(data)


def _run_command(runner: Runner, command: str) -> bytes:
    from drtool.runner import CommandFailed, operator_environment

    try:
        output = runner.run_shell(
            command,
            secret_output=True,
            label="the password command",
            environment=operator_environment(),
        )
        return _strip_newline(output)
    except CommandFailed as error:
        raise KeyUnavailable(str(error)) from None


def _prompt(confirm: bool) -> bytes:
    text = click.prompt(
        "Repository passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return text.encode()


def _missing(_confirm: bool) -> bytes:
    raise KeyUnavailable(NO_PASSPHRASE)


def _strip_newline(data: bytes) -> bytes:
    """Drop one trailing newline, as `echo` and editors add it, and keep everything else."""
    if data.endswith(b"\r\n"):
        return data[:-2]
    return data.removesuffix(b"\n")
