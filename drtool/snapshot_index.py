"""Each host's snapshot index: the one-line summaries `snapshots` shows, kept in ``index/<host>``
so that listing a fleet reads one object per host, not one manifest per snapshot.

The index is a cache, never the truth: the listing of ``snapshots/<host>/`` says which
snapshots exist. A snapshot the index lacks (a backup since, a lost update) is read from its
manifest and the index rewritten; an entry whose snapshot is gone (forget) is dropped. So two
readers racing, a backup or a forget in between, or an index that cannot be written (a
read-only credential, Object Lock) cost requests, never correctness. It is written by the
readers that list snapshots (a write-only host cannot read manifests), sealed as the heads are
(type 7, associated data: host, ``snapshots``) and signed as an operator's record (a writer can
seal an object for any host, but not sign one); trusted for display only: restore, check,
forget and prune read the manifests themselves. docs/FORMAT.md has the bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from drtool import format as object_format
from drtool.errors import DrtoolError, ObjectMissing
from drtool.format import Binding, ObjectType
from drtool.manifests import read_manifests
from drtool.parallel import bounded_map
from drtool.repository import Repository
from drtool.snapshot import SnapshotRef

log = logging.getLogger(__name__)

INDEX = "index"
_STRINGS = ("id", "host", "time")
_LISTS = ("tags", "kinds", "absent")
_NUMBERS = ("size", "stored_size")


def index_name(host: str) -> str:
    return f"{INDEX}/{host}"


def _binding(host: str) -> Binding:
    return Binding(ObjectType.HOST_HEAD, host, "snapshots")


def fleet_summaries(
    repository: Repository, hosts: Sequence[str], latest: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The summaries of each of ``hosts``' snapshots (its ``latest`` newest if given), oldest
    first, for the hosts that have any; hosts 16 at a time, each costing the listing of its own
    folder, one GET of its index and the manifests the index lacks: the requests follow the
    hosts, never the snapshots of other hosts, and no host waits for another's listing."""

    def summaries(host: str) -> list[dict[str, Any]]:
        every = repository.snapshot_refs(host)
        shown = every[-latest:] if latest else every
        return host_summaries(repository, host, every, shown) if every else []

    listed = zip(hosts, bounded_map(summaries, hosts), strict=True)
    return {host: items for host, items in listed if items}


def host_summaries(
    repository: Repository,
    host: str,
    every: Sequence[SnapshotRef],
    shown: Sequence[SnapshotRef],
) -> list[dict[str, Any]]:
    """The summaries of ``shown`` (some of ``every``, all of ``host``'s snapshots), from the
    index where it has them; the index is rewritten if it lacked one or held a gone one."""
    cached = read_index(repository, host)
    missing = [ref for ref in shown if ref.id not in cached]
    for ref, manifest in read_manifests(repository, missing, workers=4):
        if isinstance(manifest, DrtoolError):
            raise manifest
        cached[ref.id] = manifest.summary()
    current = {ref.id: cached[ref.id] for ref in every if ref.id in cached}
    if missing or len(current) != len(cached):
        _write_index(repository, host, current)
    return [cached[ref.id] for ref in shown]


def read_index(repository: Repository, host: str) -> dict[str, dict[str, Any]]:
    """``host``'s index by snapshot id; empty if it has none or it is unusable (a cache)."""
    try:
        with repository.store.open(index_name(host)) as stream:
            payload = object_format.unseal(repository.key, _binding(host), stream)
        entries = _verified(repository, host, json.loads(payload))
    except ObjectMissing:
        return {}
    except (DrtoolError, ValueError, RecursionError) as error:
        log.warning("ignoring the snapshot index of host %s: %s", host, error)
        return {}
    if not isinstance(entries, list) or not all(_is_summary(item, host) for item in entries):
        log.warning("ignoring the snapshot index of host %s: malformed", host)
        return {}
    return {item["id"]: item for item in entries}


def _write_index(repository: Repository, host: str, summaries: Mapping[str, Any]) -> None:
    """Rewrite ``host``'s index; a failure is logged, never raised (it is a cache)."""
    entries = sorted(summaries.values(), key=lambda item: item["id"])
    try:
        signature = repository.key.sign_record(_message(host, entries))
        document = {"entries": entries, "signature": base64.b64encode(signature).decode()}
        payload = json.dumps(document, sort_keys=True).encode()
        sealed = object_format.seal(repository.key, _binding(host), payload)
        repository.store.put(index_name(host), [sealed])
    except DrtoolError as error:
        log.warning("could not update the snapshot index of host %s: %s", host, error)


def _message(host: str, entries: object) -> bytes:
    """What an index's signature covers: its host and its entries' canonical JSON."""
    canonical = json.dumps(entries, sort_keys=True, separators=(",", ":"))
    return f"drtool snapshot index\x00{host}\x00{canonical}".encode()


def _verified(repository: Repository, host: str, document: object) -> object:
    """The entries of an index signed as an operator's record (readers only write it): a
    writer, which can seal an object for any host, cannot make `snapshots` show its word.
    Raise ValueError for an unsigned or forged one (ignored as any unusable index)."""
    if not isinstance(document, dict) or not isinstance(document.get("signature"), str):
        raise ValueError("not signed")
    try:
        signature = base64.b64decode(document["signature"], validate=True)
        repository.key.verify_record(_message(host, document.get("entries")), signature)
    except (binascii.Error, DrtoolError):
        raise ValueError("its signature does not verify") from None
    return document.get("entries")


def _is_summary(item: object, host: str) -> bool:
    """Whether ``item`` is a summary of one of ``host``'s snapshots, every field typed."""
    if not isinstance(item, dict) or item.get("host") != host:
        return False
    return (
        all(isinstance(item.get(key), str) for key in _STRINGS)
        and all(_strings(item.get(key)) for key in _LISTS)
        and all(type(item.get(key)) is int for key in _NUMBERS)
    )


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(text, str) for text in value)
