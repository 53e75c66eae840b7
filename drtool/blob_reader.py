"""Format 2: reading an artifact's blobs back, each pack fetched once per command.

A restore reads the manifest's list blobs, then every blob they name, in order, into the staged
tar file: no global index. A pack is fetched whole, once, into an anonymous temporary file (a
few MiB), so the requests of a restore follow the packs it touches, not its blobs. Every blob is
checked three ways before a byte of it is used: its pack's authentication (pack, kind and id as
associated data), its declared size, and its keyed id under the host's content-id key, so a
blob another host wrote, or one of another kind, is refused.
"""

from __future__ import annotations

import hmac
import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from drtool import progress
from drtool.blob_lists import decode_list, list_kind
from drtool.blobs import BLOCK, END_OF_ARCHIVE, BlobRef, blob_id
from drtool.errors import IntegrityError, ObjectMissing
from drtool.packs import PACK_TARGET, Pack, pack_name
from drtool.relocations import read_relocation
from drtool.snapshot import ArtifactRecord

if TYPE_CHECKING:
    from drtool.repository import Repository

# A pack is a few MiB (PACK_TARGET and one blob past it); a larger object is not one drtool wrote.
MAX_PACK_SIZE = 4 * PACK_TARGET
_PACK_ID = re.compile(r"[0-9a-f]{32}")
_COPY_BLOCK = 1024 * 1024


# A blob followed through more relocation records than this is refused (a loop).
MAX_RELOCATIONS = 16

# A member's header blocks and padding in drtool's tar, at most: the ustar block, a pax header
# block, its records (``path`` and ``linkpath`` each under PATH_MAX, 4,096 bytes; ``mtime``,
# ``uid``, ``gid``, ``size``) in at most 17 blocks, and the padding of the member's data.
MAX_MEMBER_OVERHEAD = 20 * BLOCK


class PackMissing(IntegrityError):
    """A pack is not in the repository (and no relocation record says where its blobs went)."""


class PackCache:
    """The packs one command has fetched, the most recently used ``limit`` of them kept, and
    the relocation records it has read."""

    def __init__(self, limit: int = 32) -> None:
        self._limit = limit
        self._packs: OrderedDict[str, Pack] = OrderedDict()
        self._relocations: dict[str, dict[str, BlobRef] | None] = {}

    def locate(self, repository: Repository, ref: BlobRef) -> tuple[Pack, BlobRef]:
        """The pack holding blob ``ref`` and its place there, following relocation records
        where prune repacked its pack; raise PackMissing (an IntegrityError)."""
        for _ in range(MAX_RELOCATIONS):
            try:
                return self.pack(repository, ref.pack), ref
            except PackMissing as missing:
                if ref.pack not in self._relocations:
                    self._relocations[ref.pack] = read_relocation(repository, ref.pack)
                moved = (self._relocations[ref.pack] or {}).get(ref.id)
                if moved is None:
                    raise missing from None
                ref = moved
        raise IntegrityError(f"blob {ref.id[:16]} is relocated in a loop; refused")

    def pack(self, repository: Repository, pack_id: str) -> Pack:
        if pack_id in self._packs:
            self._packs.move_to_end(pack_id)
            return self._packs[pack_id]
        pack = fetch_pack(repository, pack_id)
        self._packs[pack_id] = pack
        if len(self._packs) > self._limit:
            self._packs.popitem(last=False)[1].close()
        return pack

    def close(self) -> None:
        while self._packs:
            self._packs.popitem()[1].close()

    def __del__(self) -> None:  # the repository (its command) is done with its packs
        self.close()


def fetch_pack(repository: Repository, pack_id: str) -> Pack:
    """GET a whole pack into an anonymous temporary file and open it; raise IntegrityError for
    a missing, oversized or damaged one."""
    if not _PACK_ID.fullmatch(pack_id):
        raise IntegrityError(f"pack id {pack_id[:40]!r} is malformed")
    import tempfile  # with shutil, bz2 and lzma: what `snapshots` never needs

    spool = tempfile.TemporaryFile()  # noqa: SIM115 (owned by the Pack)
    try:
        total = 0
        with repository.store.open(pack_name(pack_id)) as stream:
            while block := stream.read(_COPY_BLOCK):
                total += len(block)
                if total > MAX_PACK_SIZE:
                    raise IntegrityError(
                        f"pack {pack_id[:16]} is larger than any pack drtool writes; refused"
                    )
                spool.write(block)
        return Pack(repository.key, repository.repository_id, pack_id, spool)
    except ObjectMissing:
        spool.close()
        raise PackMissing(f"pack {pack_id[:16]} is missing from the repository") from None
    except BaseException:
        spool.close()
        raise


def read_blob(repository: Repository, host: str, kind: str, ref: BlobRef) -> bytes:
    """The plaintext of blob ``ref`` of ``kind`` written by ``host``, verified."""
    pack, place = repository.packs.locate(repository, ref)
    plaintext = pack.open_blob(host, kind, place)
    expected = (blob_id(key, kind, plaintext).hex() for key in repository.key.content_id_keys(host))
    if not any(hmac.compare_digest(name, ref.id) for name in expected):
        raise IntegrityError(
            f"blob {ref.id[:16]} ({kind}) does not match its id: not {host}'s, or altered"
        )
    return plaintext


def artifact_blob_refs(
    repository: Repository, host: str, record: ArtifactRecord
) -> Iterator[BlobRef]:
    """Every blob of ``record``'s tar stream, in order, from its list blobs, read one list at a
    time: memory holds one list (a hostile record may name millions of blobs)."""
    for list_ref in record.lists:
        plaintext = read_blob(repository, host, list_kind(record.kind), list_ref)
        yield from decode_list(plaintext, f"blob list {list_ref.id[:16]} ({record.kind})")


def stream_limit(record: ArtifactRecord) -> int:
    """The most bytes a format-2 ``record``'s tar stream may hold: what it declares (its files'
    ``size``, its command ``outputs``), each of its ``entries`` members' header blocks and
    padding, and the end of the archive. (Format 1 declares its stream itself, as its parts'
    sizes, each held to its size exactly as it is decrypted: drtool/parts.py.)"""
    declared = record.size + record.outputs + len(END_OF_ARCHIVE)
    return declared + record.entries * MAX_MEMBER_OVERHEAD


def bounded_blob_refs(
    repository: Repository, host: str, record: ArtifactRecord
) -> Iterator[BlobRef]:
    """``record``'s blobs as artifact_blob_refs, refused (IntegrityError) as soon as their
    sizes pass stream_limit, before that blob is read: a list may name one blob many times,
    so a pack of a few KiB would otherwise stage any amount."""
    limit, total = stream_limit(record), 0
    for ref in artifact_blob_refs(repository, host, record):
        total += ref.size
        if total > limit:
            raise IntegrityError(
                f"the {record.kind} stream runs past the {limit} bytes its record allows "
                f"({record.entries} entries, {record.size + record.outputs} bytes); refused"
            )
        yield ref


def read_artifact(repository: Repository, host: str, record: ArtifactRecord) -> Iterator[bytes]:
    """Yield ``record``'s tar stream, blob by blob, each verified, never past stream_limit."""
    for ref in bounded_blob_refs(repository, host, record):
        plaintext = read_blob(repository, host, record.kind, ref)
        progress.advance(len(plaintext))
        yield plaintext


def declared_size(repository: Repository, host: str, record: ArtifactRecord) -> int:
    """The bytes ``record``'s tar stream declares: its parts' sizes (format 1), or its blobs'
    as its blob lists name them (format 2; the lists are read, the blobs not; IntegrityError
    past stream_limit)."""
    parts = sum(part.size for part in record.parts)
    return parts + sum(ref.size for ref in bounded_blob_refs(repository, host, record))
