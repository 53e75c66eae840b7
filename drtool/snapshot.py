"""A snapshot's manifest, and how an operator names a snapshot (id, prefix, latest, --date)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from drtool.blobs import BlobRef
from drtool.errors import IntegrityError, SnapshotNotFound, UnsupportedFormat, UsageError
from drtool.jsonfields import Fields
from drtool.timeutil import iso, parse_iso, utc_fields, utc_now

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
_DATE = re.compile(r"\d{8}")
# Seconds, or microseconds (``20250107T021500.123456Z-…``), then the random part.
_SNAPSHOT_ID = re.compile(r"\d{8}T\d{6}(\.\d{6})?Z(-pre)?-[0-9a-f]{8}")
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,252}")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")
_OBJECT_ID = re.compile(r"[0-9a-f]{64}")
_PACK_ID = re.compile(r"[0-9a-f]{32}")
_INTERFACE = re.compile(r"[A-Za-z0-9_=+.-]{1,15}")
# Deeper than any kind's metadata (docker's inspect output included); nested deeper, it would
# exhaust Python's recursion in whatever walks it (show, asdict).
_METADATA_NESTING = 64


@dataclass(frozen=True)
class PartRef:
    id: str
    size: int
    stored_size: int
    retain_until: str | None = None

    def retention_end(self) -> datetime | None:
        return parse_iso(self.retain_until) if self.retain_until else None


@dataclass(frozen=True)
class ArtifactRecord:
    kind: str
    present: bool
    roots: tuple[str, ...]
    missing: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    entries: int = 0
    size: int = 0
    parts: tuple[PartRef, ...] = ()
    # Format 2: the artifact's list blobs (drtool/blob_lists.py), the bytes its backup newly
    # stored (blobs it reused are counted by the snapshot that stored them), and the bytes of
    # its command outputs (``size`` counts files only): with ``size`` and ``entries`` they bound
    # its tar stream (drtool/blob_reader.py).
    lists: tuple[BlobRef, ...] = ()
    stored: int = 0
    outputs: int = 0

    @property
    def stored_size(self) -> int:
        return sum(part.stored_size for part in self.parts) + self.stored


@dataclass(frozen=True)
class Manifest:
    id: str
    host: str
    time: str
    tags: tuple[str, ...]
    drtool_version: str
    artifacts: tuple[ArtifactRecord, ...]
    retain_until: str | None = None
    # The id of the host's newest snapshot before this one (None: its first). Manifests written
    # before drtool recorded it have no such field: ``names_previous`` is False, the link unknown.
    previous: str | None = None
    names_previous: bool = True

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        for record in document["artifacts"]:
            if not record["lists"]:  # a format-1 record, as format 1 writes it
                del record["lists"], record["stored"], record["outputs"]
        if not document.pop("names_previous"):
            del document["previous"]
        return {"format": MANIFEST_FORMAT, **document}

    @classmethod
    def from_json(cls, document: Any) -> Manifest:
        """The manifest a decrypted JSON document describes, every field type-checked (any host
        of the fleet can write one); raise IntegrityError or UnsupportedFormat."""
        fields = Fields(document, "snapshot manifest")
        if document.get("format") != MANIFEST_FORMAT:
            raise UnsupportedFormat(
                f"snapshot manifest format {document.get('format')!r} is not supported"
            )
        snapshot_id = fields.string("id")
        if not is_snapshot_id(snapshot_id):
            raise IntegrityError(f"snapshot manifest is malformed: id {snapshot_id!r}")
        return cls(
            id=snapshot_id,
            host=fields.string("host", _NAME),
            time=fields.string("time"),
            tags=fields.strings("tags"),
            drtool_version=fields.string("drtool_version"),
            artifacts=tuple(_artifact(item) for item in fields.objects("artifacts")),
            retain_until=_iso_or_none(fields, "retain_until"),
            previous=_previous(fields),
            names_previous="previous" in document,
        )

    def artifact(self, kind: str) -> ArtifactRecord | None:
        return next((item for item in self.artifacts if item.kind == kind), None)

    def summary(self) -> dict[str, Any]:
        """The one-line view `snapshots` shows: id, host, time, tags, kinds, sizes."""
        return {
            "id": self.id,
            "host": self.host,
            "time": self.time,
            "tags": list(self.tags),
            "kinds": [item.kind for item in self.artifacts if item.present],
            "absent": [item.kind for item in self.artifacts if not item.present],
            "size": sum(item.size for item in self.artifacts),
            "stored_size": sum(item.stored_size for item in self.artifacts),
        }


def artifact_record_from_json(document: Any, where: str) -> ArtifactRecord:
    """An artifact's record from JSON (a staged record kept for --resume), type-checked as a
    manifest's are; raise IntegrityError."""
    return _artifact(Fields(document, where))


def _artifact(fields: Fields) -> ArtifactRecord:
    return _check_storage(
        ArtifactRecord(
            kind=fields.string("kind", _KIND),
            present=fields.boolean("present"),
            roots=fields.strings("roots"),
            missing=fields.strings("missing"),
            metadata=_metadata(fields),
            entries=fields.integer("entries"),
            size=fields.integer("size"),
            parts=tuple(
                PartRef(
                    id=part.string("id", _OBJECT_ID),
                    size=part.integer("size"),
                    stored_size=part.integer("stored_size"),
                    retain_until=_iso_or_none(part, "retain_until"),
                )
                for part in fields.objects("parts")
            ),
            lists=tuple(_blob_ref(item) for item in fields.objects("lists"))
            if "lists" in fields.document
            else (),
            stored=fields.integer("stored") if "stored" in fields.document else 0,
            outputs=fields.integer("outputs") if "outputs" in fields.document else 0,
        )
    )


def _check_storage(record: ArtifactRecord) -> ArtifactRecord:
    if record.parts and record.lists:
        raise IntegrityError(
            f"snapshot manifest is malformed: {record.kind} has both parts and blob lists"
        )
    return record


def _blob_ref(fields: Fields) -> BlobRef:
    return BlobRef(
        id=fields.string("id", _OBJECT_ID),
        pack=fields.string("pack", _PACK_ID),
        offset=fields.integer("offset"),
        length=fields.integer("length"),
        size=fields.integer("size"),
    )


def _metadata(fields: Fields) -> dict[str, Any]:
    """A kind's metadata: the keys drtool reads are type-checked (the iptables backend against
    its allow-list: it becomes part of a command name); others pass as they are."""
    metadata = fields.mapping("metadata")
    if _nesting(metadata) > _METADATA_NESTING:
        raise IntegrityError("snapshot manifest is malformed: metadata nested too deep")
    checked = Fields(metadata, f"snapshot manifest ({fields.string('kind')} metadata)")
    backends = [metadata["backend"]] if "backend" in metadata else []
    if "backends" in metadata:
        backends += checked.strings("backends")
    if any(backend not in ("nft", "legacy") for backend in backends):
        raise IntegrityError(
            "snapshot manifest is malformed: iptables backend must be nft or legacy"
        )
    if "up" in metadata:
        checked.strings("up", _INTERFACE)
    for key in ("version", "docker_version", "reason"):
        checked.optional_string(key)
    if "skipped_special_files" in metadata:
        checked.strings("skipped_special_files")
    return metadata


def _nesting(value: Any) -> int:
    """How deep ``value``'s lists and objects nest, counted without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = list(item.values()) if isinstance(item, dict) else item
        if isinstance(children, list):
            deepest = max(deepest, depth)
            pending += [(child, depth + 1) for child in children]
    return deepest


def _previous(fields: Fields) -> str | None:
    """The ``previous`` link: a snapshot id, or null. Not checked to be older: a host whose
    clock was set back names its true predecessor, dated after itself."""
    previous = fields.optional_string("previous")
    if previous is not None and not is_snapshot_id(previous):
        raise IntegrityError(f"snapshot manifest is malformed: previous {previous!r}")
    return previous


def _iso_or_none(fields: Fields, key: str) -> str | None:
    value = fields.optional_string(key)
    if value is not None:
        try:
            parse_iso(value)
        except ValueError:
            raise IntegrityError(f"snapshot manifest is malformed: {key} {value!r}") from None
    return value


@dataclass(frozen=True)
class SnapshotRef:
    """Where a manifest lives: enough to list and select without decrypting anything."""

    id: str
    host: str

    @property
    def time(self) -> datetime | None:
        """When the snapshot was taken (UTC), read from its id; None for a name that is no id."""
        return snapshot_time(self.id)


PRE_RESTORE_MARK = "-pre-"
# Ids carry microseconds (two backups in one second are told apart); older ids carry whole
# seconds and are still read.
_ID_TIME_FORMATS = ("%Y%m%dT%H%M%S.%fZ", "%Y%m%dT%H%M%SZ")
_ID_TIME = re.compile(
    r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})(?:\.([0-9]{6}))?Z"
)
# A snapshot dated further ahead than this is a clock gone wrong (or a forged name): it never
# becomes ``latest`` and never fills a retention slot.
FUTURE_TOLERANCE = timedelta(hours=1)


def new_snapshot_id(moment: datetime, pre_restore: bool = False) -> str:
    """``20250107T021500.123456Z-3fa2c1d0``: the backup's time to the microsecond, then a random
    part that only keeps ids unique. A restore's rollback snapshot has ``-pre-`` in it, so that
    ``latest`` and ``--date`` never pick it unless it is named."""
    mark = PRE_RESTORE_MARK if pre_restore else "-"
    random = os.urandom(4).hex()  # secrets.token_hex(4), without loading hmac and OpenSSL
    return f"{moment.astimezone(UTC).strftime(_ID_TIME_FORMATS[0])}{mark}{random}"


def snapshot_time(snapshot_id: str) -> datetime | None:
    """The UTC time an id records (either id format), or None if it records none."""
    stamp = snapshot_id.split("-", 1)[0]
    canonical = _ID_TIME.fullmatch(stamp)  # either format, read as strptime would read it
    if canonical:
        try:
            return utc_fields(canonical.groups(default="0"))
        except ValueError:
            return None
    for layout in _ID_TIME_FORMATS:
        try:
            return datetime.strptime(stamp, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def by_time(ref: SnapshotRef) -> tuple[datetime, str]:
    """Sort key: oldest first by recorded time; names that record no time come first. The id
    breaks ties only between snapshots of the same microsecond (or second, for old ids)."""
    return (ref.time or datetime.min.replace(tzinfo=UTC), ref.id)


def is_snapshot_id(text: str) -> bool:
    """Whether ``text`` is a snapshot id as new_snapshot_id makes them (a real UTC time)."""
    return bool(_SNAPSHOT_ID.fullmatch(text)) and snapshot_time(text) is not None


def is_pre_restore(ref: SnapshotRef) -> bool:
    return PRE_RESTORE_MARK in ref.id


def is_future(ref: SnapshotRef, now: datetime) -> bool:
    moment = ref.time
    return moment is not None and moment > now + FUTURE_TOLERANCE


def check_date(date: str) -> str:
    """Return ``date`` if it is a real YYYYMMDD day, else raise UsageError."""
    try:
        if not _DATE.fullmatch(date):
            raise ValueError
        datetime.strptime(date, "%Y%m%d")
    except ValueError:
        raise UsageError(f"invalid date {date!r}: expected YYYYMMDD, e.g. 20250107") from None
    return date


def newest(refs: Sequence[SnapshotRef], now: datetime | None = None) -> SnapshotRef | None:
    """The newest of ``refs`` by recorded time, passing over (with a warning naming each)
    snapshots dated more than FUTURE_TOLERANCE ahead of ``now`` and names recording no time."""
    moment = now or utc_now()
    candidates = []
    for ref in refs:
        if ref.time is None:
            continue
        if is_future(ref, moment):
            log.warning(
                "snapshot %s of %s is dated %s, in the future: not taken as the newest",
                ref.id,
                ref.host,
                iso(ref.time),
            )
            continue
        candidates.append(ref)
    return max(candidates, key=by_time, default=None)


def select_snapshot(
    refs: Sequence[SnapshotRef],
    selector: str | None,
    date: str | None,
    host: str,
    now: datetime | None = None,
) -> SnapshotRef:
    """Pick one snapshot.

    ``selector`` is a snapshot id, a unique prefix of one, or ``latest``; ``date`` picks the
    newest snapshot of that UTC day. ``latest`` and ``date`` look at ``host``'s backups only (no
    pre-restore snapshot, none dated in the future), newest by recorded time; an explicit id may
    name another host's snapshot (rebuilding web-1 on a new machine). Raise SnapshotNotFound.
    """
    backups = [ref for ref in refs if ref.host == host and not is_pre_restore(ref)]
    if date is not None:
        check_date(date)
        if selector not in (None, "latest"):
            raise UsageError("give either a snapshot id or --date, not both")
        day = [ref for ref in backups if ref.time and ref.time.strftime("%Y%m%d") == date]
        found = newest(day, now)
        if found is None:
            raise SnapshotNotFound(f"no snapshot of host {host} on {date} (UTC)")
        return found
    if selector in (None, "latest"):
        found = newest(backups, now)
        if found is None:
            raise SnapshotNotFound(f"no snapshot of host {host} in the repository")
        return found
    matches = [ref for ref in refs if ref.id.startswith(selector)]
    exact = [ref for ref in matches if ref.id == selector]
    if exact:
        matches = exact
    if not matches:
        raise SnapshotNotFound(f"no snapshot {selector!r} in the repository")
    if len(matches) > 1:
        raise SnapshotNotFound(
            f"snapshot {selector!r} is ambiguous ({len(matches)} match); give more of its id"
        )
    return matches[0]
