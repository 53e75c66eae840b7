"""restore --abandon: the operator repaired the host by hand; drop the unfinished restore."""

from __future__ import annotations

from drtool import deadman
from drtool.host import Host
from drtool.journal import Journal


def abandon(host: Host) -> str:
    """Drop the unfinished restore's journal, staged copy and rollback point, and stop its
    firewall's dead-man's switch (the old rules must not come back over the operator's repair).
    Return one line saying what was dropped; raise UsageError if no restore is unfinished."""
    journal = Journal.reopen(host)
    try:
        state = journal.state
        left = state.phase
        for switch in deadman.pending(host):
            if switch.name.startswith(f"{deadman.SWITCH_PREFIX}{state.restore_id}-"):
                deadman.disarm(switch)
        journal.abandon()
    finally:
        journal.close()
    kept = (
        f"; the state from before it stays in snapshot {state.pre_restore_snapshot}"
        if state.pre_restore_snapshot
        else ""
    )
    return f"abandoned restore {state.restore_id} of {state.snapshot_id} (left {left}){kept}"
