"""Format 1's artifact parts: one framed object per tar part, named by its keyed hash.

docs/FORMAT.md, section "Payload of an artifact part". Format 1 repositories keep this read path
(and backups into them this write path); format 2 stores blobs in packs (drtool/packs.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

from drtool import format as object_format
from drtool import progress, testpoint
from drtool.errors import IntegrityError, ObjectMissing
from drtool.format import Binding
from drtool.snapshot import PartRef
from drtool.timeutil import iso

if TYPE_CHECKING:
    from drtool.repository import Repository, Retention

_HASH_BLOCK = 1024 * 1024


def object_name(object_id: str) -> str:
    return f"objects/{object_id[:2]}/{object_id}"


def content_id(repository: Repository, kind: str, part: BinaryIO, host: str) -> str:
    """Return the keyed hash naming a part of ``kind`` of ``host``; leaves ``part`` rewound."""
    id_key = repository.key.content_id_key(host)
    digest = hmac.new(id_key, kind.encode() + b"\x00", hashlib.sha256)
    while block := part.read(_HASH_BLOCK):
        digest.update(block)
    part.seek(0)
    return digest.hexdigest()


def store_part(
    repository: Repository,
    kind: str,
    part: BinaryIO,
    known: Mapping[str, PartRef],
    retention: Retention | None = None,
    *,
    host: str,
) -> PartRef:
    """Store one tar part unless the repository already has it; return its reference.

    ``known`` holds the parts of the host's previous snapshot: they exist, which spares a
    request each. Under ``retention``, a reused object whose lock ends too early is extended.
    """
    part.seek(0, 2)
    size = part.tell()
    part.seek(0)
    progress.advance(size)
    object_id = content_id(repository, kind, part, host)
    name = object_name(object_id)
    store = repository.store
    if object_id in known:
        reused = known[object_id]
        stored_size, retain_until = reused.stored_size, reused.retention_end()
    else:
        try:
            info = store.stat(name)
            stored_size, retain_until = info.size, info.retain_until
        except ObjectMissing:
            until = retention.extended if retention else None
            binding = Binding.artifact_part(object_id, kind)
            stored = store.put(
                name, object_format.encrypt(repository.key, binding, part), retain_until=until
            )
            testpoint.reached("backup:object-stored")
            return PartRef(object_id, size, stored, iso(until) if until else None)
    if retention and not retention.is_met_by(retain_until):
        store.extend_retention(name, retention.extended)
        retain_until = retention.extended
    return PartRef(object_id, size, stored_size, iso(retain_until) if retain_until else None)


def read_part(repository: Repository, kind: str, object_id: str, size: int) -> Iterator[bytes]:
    """Yield the verified plaintext of a part of the declared ``size``, never more: raise
    IntegrityError if it is missing, damaged, or of another size."""
    total = 0
    try:
        with repository.store.open(object_name(object_id)) as stream:
            binding = Binding.artifact_part(object_id, kind)
            for block in object_format.decrypt(repository.key, binding, stream, size):
                total += len(block)
                yield block
                progress.advance(len(block))
    except ObjectMissing:
        raise IntegrityError(
            f"object {object_id[:16]} ({kind}) is missing from the repository"
        ) from None
    if total != size:
        raise IntegrityError(
            f"object {object_id[:16]} ({kind}) holds {total} bytes, its snapshot says {size}"
        )


def verify_part(repository: Repository, kind: str, object_id: str, size: int, host: str) -> None:
    """Decrypt a part of ``host`` and check its content hash under each key that may have named
    it; raise IntegrityError on any mismatch."""
    digests = [
        hmac.new(id_key, kind.encode() + b"\x00", hashlib.sha256)
        for id_key in repository.key.content_id_keys(host)
    ]
    for block in read_part(repository, kind, object_id, size):
        for digest in digests:
            digest.update(block)
    if not any(hmac.compare_digest(digest.hexdigest(), object_id) for digest in digests):
        raise IntegrityError(f"object {object_id[:16]} ({kind}) does not match its id")


def object_ids(repository: Repository) -> Iterable[str]:
    return (name.rsplit("/", 1)[1] for name in repository.store.list("objects"))
