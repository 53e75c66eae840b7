"""Reading many manifests: a bounded number of GETs in flight (latency, not bandwidth, is what
a fleet's thousands of manifests cost), in the order given, never more than a few ahead."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from drtool.errors import DrtoolError
from drtool.parallel import READERS, bounded_map
from drtool.repository import Repository
from drtool.snapshot import Manifest, SnapshotRef, select_snapshot


def read_manifests(
    repository: Repository, refs: Iterable[SnapshotRef], workers: int = READERS
) -> Iterator[tuple[SnapshotRef, Manifest | DrtoolError]]:
    """Each of ``refs`` with its manifest, or the error reading it raised."""

    def read(ref: SnapshotRef) -> tuple[SnapshotRef, Manifest | DrtoolError]:
        try:
            return ref, repository.read_manifest(ref)
        except DrtoolError as error:
            return ref, error

    return bounded_map(read, refs, workers)


def find_snapshot(
    repository: Repository, selector: str | None, date: str | None, host: str
) -> Manifest:
    """The manifest of the snapshot ``selector``/``date`` picks (snapshot.select_snapshot).
    ``latest`` and ``--date`` look at ``host``'s snapshots only, so only ``snapshots/<host>/``
    is listed: the cost does not grow with the rest of the fleet."""
    own = date is not None or selector in (None, "latest")
    refs = repository.snapshot_refs(host if own else None)
    return repository.read_manifest(select_snapshot(refs, selector, date, host))
