"""Named points on drtool's write paths where a test stops or kills the process, to prove that a
crash at any write boundary leaves the host intact or resumable and the repository consistent.

``DRTOOL_TESTPOINT=NAME`` kills drtool (SIGKILL) the first time it reaches the point NAME;
``NAME#N`` the N-th time; ``NAME:stop`` stops it (SIGSTOP) instead, for the test to look, then
kill or continue it; ``NAME:raise`` raises an exception no code expects there, as a bug would
(the CLI's last line of defence, exit 1). Without the variable a point costs one comparison:
the variable is read once, at import. A test seam, and only that.
"""

from __future__ import annotations

import os

VARIABLE = "DRTOOL_TESTPOINT"
_TARGET = os.environ.get(VARIABLE, "")
_seen: dict[str, int] = {}

# The points, in the order a backup and a restore reach them.
POINTS = (
    "unlock:deriving",  # (on the unlock's own thread) before each Argon2id derivation
    "backup:object-stored",  # after each new object is written to the repository
    "backup:before-manifest",  # every object written, the snapshot not yet committed
    "install:aside",  # a live directory renamed aside, the new one not yet in its place
    "install:swapped",  # one root swapped in, before the next
    # and restore:EVENT at each step the restore journal records ("applied nginx"…)
)


def reached(name: str) -> None:
    """Stop, kill or raise here if the test asked for ``name``."""
    if _TARGET:
        _act(name)


class InjectedBug(RuntimeError):
    """What ``NAME:raise`` raises: an error of no class drtool handles, as a bug's would be."""


def _act(name: str) -> None:
    point, action = _TARGET, "kill"
    for suffix in (":stop", ":raise"):
        if _TARGET.endswith(suffix):
            point, action = _TARGET.removesuffix(suffix), suffix[1:]
    wanted, _, count = point.partition("#")
    if wanted != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] != int(count or 1):
        return
    if action == "raise":
        raise InjectedBug(f"injected at the test point {name}")
    import signal  # not at the top: `drtool snapshots` imports this module too (start-up)

    os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
