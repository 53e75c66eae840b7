"""Format 2: which packs and blobs the snapshots use, for check and prune.

Every list blob of every snapshot is read (it is where a snapshot names its blobs), so this
needs a key that can read; format-1 artifacts (parts) are not counted here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from drtool.blob_lists import list_kind
from drtool.blob_reader import artifact_blob_refs, read_blob
from drtool.blobs import BlobRef
from drtool.errors import DrtoolError
from drtool.repository import Repository
from drtool.snapshot import Manifest


@dataclass(frozen=True)
class UsedBlob:
    host: str
    kind: str
    ref: BlobRef


class PackUsage:
    """Pack id -> the blobs of it some snapshot uses (each once)."""

    def __init__(self, repository: Repository) -> None:
        self._repository = repository
        self.packs: dict[str, dict[str, UsedBlob]] = {}

    def add(self, manifest: Manifest) -> None:
        """Count every blob ``manifest`` uses; raise IntegrityError for an unreadable list."""
        for record in manifest.artifacts:
            for ref in record.lists:
                self._use(UsedBlob(manifest.host, list_kind(record.kind), ref))
            for ref in artifact_blob_refs(self._repository, manifest.host, record):
                self._use(UsedBlob(manifest.host, record.kind, ref))

    def _use(self, blob: UsedBlob) -> None:
        self.packs.setdefault(blob.ref.pack, {}).setdefault(blob.ref.id, blob)

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
