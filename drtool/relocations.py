"""Format 2: where prune moved the blobs of a pack it repacked (docs/FORMAT.md, "Relocations").

Manifests name each blob's pack and offset, and prune cannot rewrite them (each host signs its
own), so a repack leaves ``relocated/<hh>/<pack-id>`` behind the pack it deleted: the blobs'
new places, as blob-list records. A reader that finds a pack gone follows it; prune deletes it
once no snapshot names the old pack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from drtool import format as object_format
from drtool.blob_lists import decode_list, encode_lists
from drtool.blobs import BlobRef
from drtool.errors import ObjectMissing
from drtool.format import Binding, ObjectType

if TYPE_CHECKING:
    from drtool.repository import Repository

RELOCATED = "relocated"
# A relocation record holds at most one pack's blobs: 4 MiB of blobs of 28 bytes at least.
_MAX_RECORD = 16 * 1024 * 1024


def relocation_name(pack_id: str) -> str:
    return f"{RELOCATED}/{pack_id[:2]}/{pack_id}"


def _binding(repository: Repository, pack_id: str) -> Binding:
    return Binding(ObjectType.RELOCATION, pack_id, repository.repository_id)


def write_relocation(repository: Repository, pack_id: str, moved: Iterable[BlobRef]) -> None:
    payload = b"".join(encode_lists(list(moved)))
    sealed = object_format.seal(repository.key, _binding(repository, pack_id), payload)
    repository.store.put(relocation_name(pack_id), [sealed])


def read_relocation(repository: Repository, pack_id: str) -> dict[str, BlobRef] | None:
    """Blob id -> its new place, for the repacked pack ``pack_id``; None if it was not
    repacked. Raise IntegrityError for a damaged or misplaced record."""
    try:
        with repository.store.open(relocation_name(pack_id)) as stream:
            payload = object_format.unseal(
                repository.key, _binding(repository, pack_id), stream, _MAX_RECORD
            )
    except ObjectMissing:
        return None
    refs = decode_list(payload, f"relocation record of pack {pack_id[:16]}")
    return {ref.id: ref for ref in refs}
