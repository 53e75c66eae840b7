"""Nothing taken away unnoticed: each manifest names its host's previous snapshot, and each
reader remembers the newest snapshot it has seen of each host (drtool/seen.py). A snapshot that
one of them names and that is gone, with no verified tombstone of a ``forget``
(drtool/tombstones.py), is a gap: `restore latest`, `--date` and `drill` refuse it unless the
operator accepts it (``--accept-missing``); `check` reports it.

What this cannot see: snapshots no manifest names and this reader never saw (the newest ones of
a host, deleted before anyone read them and before the host's next backup).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from drtool.errors import DrtoolError, IntegrityError, SnapshotsMissing
from drtool.repository import Repository
from drtool.seen import SeenState
from drtool.snapshot import Manifest, SnapshotRef, by_time, is_future
from drtool.timeutil import utc_now
from drtool.tombstones import read_tombstone

log = logging.getLogger(__name__)

_READERS = 8


@dataclass(frozen=True)
class Gap:
    """A snapshot of ``host`` that is gone without a verified tombstone, and who names it."""

    host: str
    snapshot: str
    named_by: str  # "this reader saw it", "snapshot X names it as previous"
    tombstone: str = ""  # why its tombstone counts for nothing, if it has one

    def describe(self) -> str:
        record = self.tombstone or "no record of a forget"
        where = f"snapshot {self.snapshot} of host {self.host}"
        return f"{where} is missing ({self.named_by}; {record})"


def previous_snapshot(listed: Iterable[SnapshotRef], seen: str | None, now: datetime) -> str | None:
    """What a new snapshot of a host names as its previous: the newest of the host's listed
    snapshots and the one this machine last saw (or wrote), none dated after ``now``. A gone
    snapshot this machine remembers is named all the same: its readers then notice."""
    host = next(iter(listed), SnapshotRef("", "")).host
    remembered = [SnapshotRef(seen, host)] if seen is not None else []
    return _newest_id(ref for ref in [*listed, *remembered] if not is_future(ref, now))


def find_gaps(
    repository: Repository,
    host: str,
    listed: Sequence[SnapshotRef],
    manifests: Mapping[str, Manifest],
    seen: str | None,
) -> list[Gap]:
    """The gaps in ``host``'s chain, given its listed snapshots, its readable manifests and the
    newest snapshot this reader saw of it."""
    present = {ref.id for ref in listed}
    named: dict[str, str] = {}
    for manifest in sorted(manifests.values(), key=lambda item: item.id, reverse=True):
        if manifest.names_previous and manifest.previous and manifest.previous not in present:
            named.setdefault(manifest.previous, f"snapshot {manifest.id} names it as previous")
    # A seen snapshot gone, yet older than one still here, is a forgotten one whose tombstone
    # prune removed (or a gap in the middle, which the links above find).
    newer = [ref for ref in listed if ref.id in manifests]
    if seen is not None and seen not in present:
        seen_ref = SnapshotRef(seen, host)
        if not any(by_time(ref) > by_time(seen_ref) for ref in newer):
            named.setdefault(seen, "this reader saw it")
    gaps = []
    for snapshot_id, named_by in sorted(named.items(), key=lambda item: item[0], reverse=True):
        try:
            if read_tombstone(repository, host, snapshot_id) is not None:
                continue
            gaps.append(Gap(host, snapshot_id, named_by))
        except IntegrityError as error:
            gaps.append(Gap(host, snapshot_id, named_by, str(error)))
    return gaps


def readable_manifests(
    repository: Repository, refs: Sequence[SnapshotRef], now: datetime
) -> dict[str, Manifest]:
    """The manifests of ``refs`` that read and verify, by id; a future-dated snapshot is left
    out (it is never ``latest`` and its links are not trusted), an unreadable one skipped
    (`check` reports it)."""

    def read(ref: SnapshotRef) -> Manifest | None:
        try:
            return repository.read_manifest(ref)
        except DrtoolError as error:
            log.info("snapshot %s of %s skipped in its chain: %s", ref.id, ref.host, error)
            return None

    from concurrent.futures import ThreadPoolExecutor  # not for a backup the files cache answers

    wanted = [ref for ref in refs if not is_future(ref, now)]
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        found = list(pool.map(read, wanted))
    return {manifest.id: manifest for manifest in found if manifest is not None}


def newest_read(manifests: Mapping[str, Manifest], host: str) -> str | None:
    return _newest_id(SnapshotRef(snapshot_id, host) for snapshot_id in manifests)


def _newest_id(refs: Iterable[SnapshotRef]) -> str | None:
    newest = max(refs, key=by_time, default=None)
    return newest.id if newest else None


def refuse_gaps(
    repository: Repository,
    host: str,
    refs: Sequence[SnapshotRef],
    seen: SeenState,
    accept_missing: bool,
    now: datetime | None = None,
) -> None:
    """Before `restore latest`/`--date` or `drill` of ``host``: raise SnapshotsMissing (exit 14)
    naming the first gap and how many there are, unless ``accept_missing``; then remember the
    newest snapshot read (with ``accept_missing``, it replaces what was seen)."""
    listed = [ref for ref in refs if ref.host == host]
    manifests = readable_manifests(repository, listed, now or utc_now())
    gaps = find_gaps(repository, host, listed, manifests, seen.newest_of(host))
    if gaps and not accept_missing:
        more = f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""
        raise SnapshotsMissing(
            f"{gaps[0].describe()}{more}: refused; `--accept-missing` goes on with what is left"
        )
    for gap in gaps:
        log.warning("%s: accepted (--accept-missing)", gap.describe())
    newest = newest_read(manifests, host)
    if accept_missing:
        seen.reset(host, newest)
    elif newest is not None:
        seen.saw(host, newest)
    seen.save()
