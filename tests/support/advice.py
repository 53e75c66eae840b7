"""drtool's advice, run as printed: every command it tells an operator to run is in backquotes
(`drtool restore --rollback --yes`); the tests parse it from what drtool printed and run it."""

from __future__ import annotations

import re
import shlex
import subprocess
from typing import Protocol

ADVICE = re.compile(r"`(drtool [^`]+)`")


class Runs(Protocol):
    def __call__(
        self, *arguments: str, expect: int = 0, one_line: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def advised(text: str) -> list[str]:
    """Every command ``text`` advises, in order."""
    return ADVICE.findall(text)


def follow(
    cli: Runs, text: str, containing: str, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run, exactly as printed, the one command ``text`` advises that contains ``containing``."""
    matching = [command for command in advised(text) if containing in command]
    assert len(matching) == 1, f"expected one advice with {containing!r} in: {text!r}"
    argv = shlex.split(matching[0])
    assert argv[0] == "drtool"
    return cli(*argv[1:], expect=expect)
