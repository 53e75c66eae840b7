"""Format 2: which packs and blobs the snapshots use, for check and prune.

Every list blob of every snapshot is read (it is where a snapshot names its blobs), so this
needs a key that can read; format-1 artifacts (parts) are not counted here. A blob whose pack
was repacked is counted where its relocation record says it is now.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from drtool.blob_lists import list_kind
from drtool.blob_reader import MAX_RELOCATIONS, artifact_blob_refs, read_blob
from drtool.blobs import BlobRef
from drtool.errors import DrtoolError
from drtool.relocations import RELOCATED, read_relocation
from drtool.repository import Repository
from drtool.snapshot import Manifest


@dataclass(frozen=True)
class UsedBlob:
    host: str
    kind: str
    ref: BlobRef  # where the blob is now (after any relocation)


class PackUsage:
    """Pack id -> the blobs of it some snapshot uses, each once per (host, kind, id) it is used
    as (so that check verifies it as each); the packs stored (one listing); the packs some
    snapshot names that are gone, and the relocation records in use."""

    def __init__(self, repository: Repository) -> None:
        self._repository = repository
        self.packs: dict[str, dict[tuple[str, str, str], UsedBlob]] = {}
        self.stored = {name.rsplit("/", 1)[1] for name in repository.store.list("packs")}
        self.relocated = {name.rsplit("/", 1)[1] for name in repository.store.list(RELOCATED)}
        self.missing: dict[str, int] = {}  # pack -> blobs named in it that are nowhere
        self.relocations_used: set[str] = set()
        self._relocations: dict[str, dict[str, BlobRef]] = {}

    def add(self, manifest: Manifest) -> None:
        """Count every blob ``manifest`` uses; raise IntegrityError for an unreadable list."""
        for record in manifest.artifacts:
            for ref in record.lists:
                self._use(manifest.host, list_kind(record.kind), ref)
            for ref in artifact_blob_refs(self._repository, manifest.host, record):
                self._use(manifest.host, record.kind, ref)

    def _use(self, host: str, kind: str, ref: BlobRef) -> None:
        for _ in range(MAX_RELOCATIONS):
            if ref.pack in self.stored:
                used = self.packs.setdefault(ref.pack, {})
                used.setdefault((host, kind, ref.id), UsedBlob(host, kind, ref))
                return
            moved = self._relocation(ref.pack).get(ref.id)
            if moved is None:
                break
            self.relocations_used.add(ref.pack)
            ref = moved
        self.missing[ref.pack] = self.missing.get(ref.pack, 0) + 1

    def _relocation(self, pack: str) -> dict[str, BlobRef]:
        if pack not in self.relocated:
            return {}
        if pack not in self._relocations:
            self._relocations[pack] = read_relocation(self._repository, pack) or {}
        return self._relocations[pack]

    @property
    def blobs(self) -> int:
        return sum(len(blobs) for blobs in self.packs.values())

    def sample(self, percent: float) -> list[str]:
        """A random ``percent`` of the used packs (at least one if any), sorted."""
        packs = sorted(self.packs)
        count = min(len(packs), max(1 if packs else 0, round(len(packs) * percent / 100)))
        return sorted(random.sample(packs, count))

    def verify(self, pack: str) -> str | None:
        """Read and verify every used blob of ``pack``; return the first problem, if any."""
        for blob in self.packs[pack].values():
            try:
                read_blob(self._repository, blob.host, blob.kind, blob.ref)
            except DrtoolError as error:
                return str(error)
        return None
