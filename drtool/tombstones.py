"""forget's tombstones: an authenticated record of each snapshot it removed, so that a snapshot
gone with a tombstone was forgotten, and one gone without was taken away.

``forgotten/<host>/<snapshot-id>`` holds a small JSON document signed with the operator's key
(``keys.sign_record``: an HMAC in format 1, Ed25519 in format 2). A tombstone that does not
verify counts for nothing. prune deletes a tombstone once no manifest names its snapshot as
``previous`` (docs/FORMAT.md, "Tombstones").
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from drtool.errors import IntegrityError, ObjectMissing
from drtool.repository import Repository, named_snapshot
from drtool.snapshot import SnapshotRef
from drtool.timeutil import utc_now_iso

log = logging.getLogger(__name__)

FORGOTTEN = "forgotten"
TOMBSTONE_FORMAT = 1
# A tombstone is about 250 bytes; anything much larger is not one.
MAX_TOMBSTONE_SIZE = 4096


def tombstone_name(host: str, snapshot_id: str) -> str:
    return f"{FORGOTTEN}/{host}/{snapshot_id}"


@dataclass(frozen=True)
class Tombstone:
    host: str
    snapshot: str
    forgotten: str  # UTC ISO 8601: when forget removed it

    def message(self) -> bytes:
        """What the signature covers: every field, so none can be moved to another snapshot."""
        fields = (str(TOMBSTONE_FORMAT), self.host, self.snapshot, self.forgotten)
        return b"drtool tombstone\x00" + b"\x00".join(item.encode() for item in fields)


def write_tombstone(repository: Repository, ref: SnapshotRef) -> None:
    """Record, signed, that forget removes ``ref``: written before the manifest is deleted."""
    tombstone = Tombstone(ref.host, ref.id, utc_now_iso())
    signature = repository.key.sign_record(tombstone.message())
    document = {
        "format": TOMBSTONE_FORMAT,
        "host": tombstone.host,
        "snapshot": tombstone.snapshot,
        "forgotten": tombstone.forgotten,
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    repository.store.put(tombstone_name(ref.host, ref.id), [json.dumps(document).encode()])


def read_tombstone(repository: Repository, host: str, snapshot_id: str) -> Tombstone | None:
    """The verified tombstone of a snapshot, None if there is none; raise IntegrityError if the
    one there does not verify (it counts for nothing)."""
    name = tombstone_name(host, snapshot_id)
    try:
        with repository.store.open(name) as stream:
            data = stream.read(MAX_TOMBSTONE_SIZE + 1)
    except ObjectMissing:
        return None
    where = f"the tombstone of snapshot {snapshot_id} of host {host}"
    try:
        if len(data) > MAX_TOMBSTONE_SIZE:
            raise ValueError("too large")
        document = json.loads(data)
        tombstone = Tombstone(document["host"], document["snapshot"], document["forgotten"])
        signature = base64.b64decode(document["signature"], validate=True)
        if document["format"] != TOMBSTONE_FORMAT or not all(
            isinstance(value, str) for value in vars(tombstone).values()
        ):
            raise ValueError("malformed")
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error):
        raise IntegrityError(f"{where} is malformed: it counts for nothing") from None
    forged = IntegrityError(f"{where} does not verify (forged?): it counts for nothing")
    if (tombstone.host, tombstone.snapshot) != (host, snapshot_id):
        raise forged
    try:
        repository.key.verify_record(tombstone.message(), signature)
    except IntegrityError:
        raise forged from None
    return tombstone


def tombstoned(repository: Repository) -> Iterator[SnapshotRef]:
    """The snapshots the repository holds tombstones of (unverified: names only)."""
    for name in repository.store.list(FORGOTTEN):
        ref = named_snapshot(name)
        if ref is None:
            log.warning("%s is not a tombstone's name: left alone", name)
            continue
        yield ref
