"""SIGTERM unwound as Ctrl-C is.

systemd stops a unit, and a scheduler ends a job past its time limit, with SIGTERM; its default
action ends the process where it stands, so a prune's exclusive lock (or a backup's shared one)
stayed behind for an hour, keeping every other prune, forget, or backup out. drtool raises it as
an interruption instead: the same unwinding as Ctrl-C (locks released, partial objects left to
prune, a restore's journal kept for --resume), then the process ends by the signal itself, so the
one who sent it sees what it expects (systemd counts it a clean stop; a shell sees 143).
"""

from __future__ import annotations

import os
import signal
from types import FrameType


class Terminated(KeyboardInterrupt):
    """A SIGTERM, raised in the main thread wherever it was."""


def unwind_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _raise_terminated)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def end_by_sigterm_if_terminated(error: BaseException) -> None:
    """If ``error`` is a SIGTERM's (click wraps it in Abort), end the process by that signal."""
    if isinstance(error, Terminated) or isinstance(error.__context__, Terminated):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
