"""What a format-2 backup learns from listings before it writes, so that an unchanged backup
asks nothing else before writing its manifest (docs/FORMAT.md, "The files cache").

The listings answer: the host's snapshots (is the files cache's snapshot still the newest?),
the packs and relocation records present (are the packs the files cache reuses still there?),
and the size and time of ``config`` and of the writer's registration (are they as when this host
last read them?). A small repository (fewer than 1,000 names) is listed whole, in one request
on S3. A larger one is listed in part: ``config`` (the first name of any repository),
then ``snapshots/<host>/``, ``writers/``, and the one ``packs/<hh>/`` and ``relocated/<hh>/``
its host's packs are named under (drtool/packs.py, ``host_tag``): a handful of requests however
large the fleet. Packs outside those are then not known, so not reused.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from drtool.repository import snapshot_ref
from drtool.snapshot import SnapshotRef, by_time
from drtool.store import Store
from drtool.store.base import ListedObject

Stamp = tuple[int, str]  # (size, modification time, ISO) as a listing tells them
WHOLE_LISTING = 999  # names: fewer than an S3 page (1,000), so deciding costs one request
_PACK_PREFIXES = ("packs/", "relocated/")


@dataclass(frozen=True)
class Survey:
    """The facts of the listings that a backup of ``host`` needs."""

    host: str
    snapshot_refs: list[SnapshotRef] = field(default_factory=list)  # the host's, oldest first
    packs: frozenset[str] = frozenset()  # pack ids with a pack or a relocation record
    stamps: dict[str, Stamp] = field(default_factory=dict)  # of the names asked for
    pack_directory: str | None = None  # the ``<hh>`` listed; None: every pack was listed

    def covers(self, pack_id: str) -> bool:
        """Whether the listings would show the pack ``pack_id`` if it were there."""
        return self.pack_directory is None or pack_id[:2] == self.pack_directory

    def stamps_of(self, names: Iterable[str]) -> dict[str, Stamp] | None:
        """The stamps of ``names``, or None if one of them is not in the repository."""
        found = {name: self.stamps.get(name) for name in names}
        if any(stamp is None for stamp in found.values()):
            return None
        return found  # type: ignore[return-value]


def survey(store: Store, host: str, tag: str, stamped: Iterable[str] = ()) -> Survey:
    """List what a backup of ``host`` (whose pack ids begin with ``tag``) needs, and the stamps
    of the names ``stamped``. Raise IntegrityError for a name under ``snapshots/<host>/`` that
    is not a snapshot's (as the host's own listing does)."""
    wanted = set(stamped)
    whole = store.list_info("")
    first = list(itertools.islice(whole, WHOLE_LISTING + 1))
    if len(first) <= WHOLE_LISTING:
        return _survey(host, first, wanted, None)
    directory = tag[:2]
    config = [item for item in first[:1] if item.name in wanted]
    parts = itertools.chain(
        config,
        store.list_info(f"snapshots/{host}"),
        store.list_info(f"packs/{directory}"),
        store.list_info(f"relocated/{directory}"),
        (item for item in store.list_info("writers") if item.name in wanted),
    )
    return _survey(host, parts, wanted, directory)


def _survey(
    host: str, listed: Iterable[ListedObject], wanted: set[str], directory: str | None
) -> Survey:
    mine = f"snapshots/{host}/"
    refs, packs, stamps = [], set(), {}
    for item in listed:
        if item.name.startswith(mine):
            refs.append(snapshot_ref(item.name))
        elif item.name.startswith(_PACK_PREFIXES):
            packs.add(item.name.rsplit("/", 1)[1])
        elif item.name in wanted:
            stamps[item.name] = (item.size, item.modified.isoformat())
    return Survey(host, sorted(refs, key=by_time), frozenset(packs), stamps, directory)
