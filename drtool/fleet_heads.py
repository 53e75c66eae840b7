"""The fleet's heads as `status` shows them: every host the repository or this machine knows
of, each head checked against the newest one this machine read of its host.

Someone who can write the storage cannot forge a head (drtool/heads.py), but can delete one or
put back an older one of the same host (validly signed then). So the hosts are those named
under heads/, under snapshots/ (a delimiter listing: one request per 1,000 hosts, however many
snapshots each has) and in this machine's memory (drtool/seen.py, SeenHeads); a host listed
with no head is a problem of that host, and so is a head written before the newest one this
machine read of its host, or one naming a snapshot of a host that has none. A machine with no
memory of the repository cannot tell an older head from the newest. docs/FORMAT.md, "Signed
heads".
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from drtool.errors import ConfigError, IntegrityError
from drtool.heads import CLOCK_SKEW, HEADS, HostHead, RefusedHead, read_head
from drtool.hostname import check_host_name
from drtool.repository import Repository
from drtool.seen import SeenHeads
from drtool.timeutil import iso, parse_iso

SNAPSHOTS = "snapshots"
_READERS = 16

Head = HostHead | RefusedHead


def read_heads(
    repository: Repository, now: datetime, memory: SeenHeads | None = None
) -> dict[str, Head]:
    """Every host's head by host: two listings, then one GET per head listed, in parallel
    (latency, not bandwidth, is what 1,000 hosts cost). A head that is refused, missing or
    older than ``memory`` remembers is a RefusedHead: the other hosts are still read and shown.
    Each head shown is remembered in ``memory``, as written no later than CLOCK_SKEW after
    ``now``: a head dated further ahead cannot make its host's next honest one look older for
    longer, and an older head put back of a host whose clock is ahead by less is still
    refused."""
    with_snapshots = set(repository.store.list_folders(SNAPSHOTS))
    remembered = memory.written if memory is not None else {}
    listed = {name.rsplit("/", 1)[1] for name in repository.store.list(HEADS)}
    hosts = sorted(listed | with_snapshots | set(remembered))
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        found = pool.map(lambda host: _read(repository, host, host in listed), hosts)
        heads = {}
        for host, head in zip(hosts, found, strict=True):
            judged = _judged(host, head, remembered.get(host), host in with_snapshots)
            if judged is not None:
                heads[judged.host] = judged
    if memory is not None:
        memory.remember(
            {
                host: iso(min(parse_iso(head.updated), now + CLOCK_SKEW))
                for host, head in heads.items()
                if isinstance(head, HostHead)
            }
        )
    return heads


def _read(repository: Repository, host: str, has_head: bool) -> Head | None:
    try:
        check_host_name(host)
    except ConfigError:  # planted by someone who can write the storage: shown, not read
        label = repr(host[:64])
        what = "the status record" if has_head else f"the folder of {SNAPSHOTS}/"
        return RefusedHead(label, f"{what} {label} is not named by a host")
    if not has_head:  # the listing said so: a planted folder costs no request of its own
        return None
    try:
        return read_head(repository, host)
    except IntegrityError as error:
        return RefusedHead(host, str(error))


def _judged(
    host: str, head: Head | None, remembered: str | None, has_snapshots: bool
) -> Head | None:
    """``head`` as `status` may trust it, given when the newest head this machine read of
    ``host`` was written and whether ``host`` has snapshots; None: nothing to show (a head
    deleted between the listing and its GET, of a host nothing else knows)."""
    what = f"the status record of host {host}"
    if head is None:
        if remembered is not None:
            return RefusedHead(
                host,
                f"{what} is gone, though this machine read one (of {remembered[:19]}Z): deleted "
                "by someone who can write the storage",
            )
        if has_snapshots:
            return RefusedHead(
                host, f"{what} is missing, though it has snapshots (deleted, or never written)"
            )
        return None
    if isinstance(head, RefusedHead):
        return head
    if remembered is not None and parse_iso(head.updated) < parse_iso(remembered):
        return RefusedHead(
            host,
            f"{what} (of {head.updated[:19]}Z) is older than one this machine read (of "
            f"{remembered[:19]}Z): put back by someone who can write the storage, or written "
            "on a machine whose clock is behind",
        )
    if head.snapshot is not None and not has_snapshots:
        return RefusedHead(
            host, f"{what} names snapshot {head.snapshot['id']}, but the host has no snapshot"
        )
    return head
