"""prune's repack (format 2): a pack the snapshots use only in part is rewritten with just the
blobs they use, then deleted, a relocation record (drtool/relocations.py) left behind.

Order, for crash safety: the new pack is written, then the relocation record, then the old pack
deleted. A crash before the record leaves an unreferenced new pack (the next prune deletes it);
after it, both copies (readers still use the old pack, the next prune repacks it again).
Under Object Lock nothing is repacked: a locked pack cannot be deleted, and a new pack would
be locked no longer than the config says.
"""

from __future__ import annotations

from datetime import datetime

from drtool import testpoint
from drtool.blob_reader import read_blob
from drtool.pack_usage import PackUsage, UsedBlob
from drtool.packs import PackWriter, pack_name
from drtool.relocations import write_relocation
from drtool.repository import Repository, read_config

# A pack is repacked once more than this share of its bytes is used by no snapshot.
DEFAULT_MAX_UNUSED = 0.2


def repack(
    repository: Repository, usage: PackUsage, older_than: datetime, max_unused: float
) -> int:
    """Repack every pack older than ``older_than`` whose unused share passes ``max_unused``;
    return how many were repacked."""
    if not usage.packs or read_config(repository.store).object_lock_days:
        return 0
    repacked = 0
    for pack, used in sorted(usage.packs.items()):
        info = repository.store.stat(pack_name(pack))
        used_bytes = sum(blob.ref.length for blob in used.values())
        if info.modified > older_than or info.size - used_bytes <= max_unused * info.size:
            continue  # (the header and index count as unused here: a cheap first look)
        index = repository.packs.pack(repository, pack).index()
        if sum(entry.ref.length for entry in index) - used_bytes <= max_unused * info.size:
            continue
        _repack_one(repository, pack, list(used.values()))
        repacked += 1
    return repacked


def _repack_one(repository: Repository, pack: str, used: list[UsedBlob]) -> None:
    """Copy the ``used`` blobs of ``pack`` (each verified) into a new pack; record where they
    went; delete ``pack``. A pack holds one host's blobs (their associated data names it)."""
    writer = PackWriter(repository.key, repository.repository_id, used[0].host)
    moved = []
    for blob in used:
        plaintext = read_blob(repository, blob.host, blob.kind, blob.ref)
        moved.append(writer.add(blob.kind, bytes.fromhex(blob.ref.id), plaintext))
    repository.store.put(pack_name(writer.pack_id), [writer.finish()])
    testpoint.reached("prune:repacked")
    write_relocation(repository, pack, moved)
    repository.store.delete(pack_name(pack))
