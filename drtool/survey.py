"""What one listing of the whole repository tells a format-2 backup, so that an unchanged backup
asks nothing else before writing its manifest (docs/FORMAT.md, "The files cache").

One streamed listing (S3: one request per 1,000 names) answers: the host's snapshots (is the
files cache's snapshot still the newest?), the packs and relocation records present (are the
packs the files cache reuses still there?), and the size and time of ``config`` and of the
writer's registration (are they as when this host last read them?).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from drtool.repository import snapshot_ref
from drtool.snapshot import SnapshotRef, by_time
from drtool.store import Store

Stamp = tuple[int, str]  # (size, modification time, ISO) as a listing tells them
_PACKS = "packs/"
_RELOCATED = "relocated/"


@dataclass(frozen=True)
class Survey:
    """The facts of one listing that a backup of ``host`` needs."""

    host: str
    snapshot_refs: list[SnapshotRef] = field(default_factory=list)  # the host's, oldest first
    packs: frozenset[str] = frozenset()  # pack ids with a pack or a relocation record
    stamps: dict[str, Stamp] = field(default_factory=dict)  # of the names asked for

    def stamps_of(self, names: Iterable[str]) -> dict[str, Stamp] | None:
        """The stamps of ``names``, or None if one of them is not in the repository."""
        found = {name: self.stamps.get(name) for name in names}
        if any(stamp is None for stamp in found.values()):
            return None
        return found  # type: ignore[return-value]


def survey(store: Store, host: str, stamped: Iterable[str] = ()) -> Survey:
    """List the whole repository once; keep what a backup of ``host`` needs, and the stamps of
    the names ``stamped``. Raise IntegrityError for a name under ``snapshots/<host>/`` that
    is not a snapshot's (as the host's own listing does)."""
    mine, wanted = f"snapshots/{host}/", set(stamped)
    refs, packs, stamps = [], set(), {}
    for item in store.list_info(""):
        if item.name.startswith(mine):
            refs.append(snapshot_ref(item.name))
        elif item.name.startswith((_PACKS, _RELOCATED)):
            packs.add(item.name.rsplit("/", 1)[1])
        elif item.name in wanted:
            stamps[item.name] = (item.size, item.modified.isoformat())
    return Survey(host, sorted(refs, key=by_time), frozenset(packs), stamps)
