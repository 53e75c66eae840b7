"""A snapshot's manifest, and how an operator names a snapshot (id, prefix, latest, --date)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from drtool.errors import IntegrityError, SnapshotNotFound, UnsupportedFormat, UsageError
from drtool.jsonfields import Fields
from drtool.timeutil import parse_iso

MANIFEST_FORMAT = 1
_DATE = re.compile(r"\d{8}")
# Seconds, or microseconds (``20250107T021500.123456Z-…``), then the random part.
_SNAPSHOT_ID = re.compile(r"\d{8}T\d{6}(\.\d{6})?Z(-pre)?-[0-9a-f]{8}")
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,252}")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")
_OBJECT_ID = re.compile(r"[0-9a-f]{64}")
_INTERFACE = re.compile(r"[A-Za-z0-9_=+.-]{1,15}")


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

    @property
    def stored_size(self) -> int:
        return sum(part.stored_size for part in self.parts)


@dataclass(frozen=True)
class Manifest:
    id: str
    host: str
    time: str
    tags: tuple[str, ...]
    drtool_version: str
    artifacts: tuple[ArtifactRecord, ...]
    retain_until: str | None = None

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
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
    return ArtifactRecord(
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
    )


def _metadata(fields: Fields) -> dict[str, Any]:
    """A kind's metadata: the keys drtool reads are type-checked (the iptables backend against
    its allow-list: it becomes part of a command name); others pass as they are."""
    metadata = fields.mapping("metadata")
    checked = Fields(metadata, f"snapshot manifest ({fields.string('kind')} metadata)")
    if "backend" in metadata and metadata["backend"] not in ("nft", "legacy"):
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


def _iso_or_none(fields: Fields, key: str) -> str | None:
    value = fields.optional_string(key)
    if value is not None:
        try:
            parse_iso(value)
        except ValueError:
            raise IntegrityError(f"snapshot manifest is malformed: {key} {value!r}") from None
    return value


@dataclass(frozen=True, order=True)
class SnapshotRef:
    """Where a manifest lives: enough to list and select without decrypting anything."""

    id: str
    host: str


PRE_RESTORE_MARK = "-pre-"


def new_snapshot_id(moment: datetime, pre_restore: bool = False) -> str:
    """``20250107T021500Z-3fa2c1d0``; a restore's rollback snapshot has ``-pre-`` in it, so
    that ``latest`` and ``--date`` never pick it unless it is named."""
    mark = PRE_RESTORE_MARK if pre_restore else "-"
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}{mark}{secrets.token_hex(4)}"


def is_snapshot_id(text: str) -> bool:
    """Whether ``text`` is a snapshot id as new_snapshot_id makes them (a real UTC time)."""
    if not _SNAPSHOT_ID.fullmatch(text):
        return False
    try:
        datetime.strptime(text[:15], "%Y%m%dT%H%M%S")
    except ValueError:
        return False
    return True


def is_pre_restore(ref: SnapshotRef) -> bool:
    return PRE_RESTORE_MARK in ref.id


def snapshot_day(snapshot_id: str) -> str:
    return snapshot_id[:8]


def check_date(date: str) -> str:
    """Return ``date`` if it is a real YYYYMMDD day, else raise UsageError."""
    try:
        if not _DATE.fullmatch(date):
            raise ValueError
        datetime.strptime(date, "%Y%m%d")
    except ValueError:
        raise UsageError(f"invalid date {date!r}: expected YYYYMMDD, e.g. 20250107") from None
    return date


def select_snapshot(
    refs: Sequence[SnapshotRef], selector: str | None, date: str | None, host: str
) -> SnapshotRef:
    """Pick one snapshot.

    ``selector`` is a snapshot id, a unique prefix of one, or ``latest``; ``date`` picks the
    newest snapshot of that UTC day. ``latest`` and ``date`` look at ``host`` only; an explicit id
    may name another host's snapshot (rebuilding web-1 on a new machine). Raise SnapshotNotFound.
    """
    if date is not None:
        check_date(date)
        if selector not in (None, "latest"):
            raise UsageError("give either a snapshot id or --date, not both")
        day = [
            ref
            for ref in refs
            if ref.host == host and snapshot_day(ref.id) == date and not is_pre_restore(ref)
        ]
        if not day:
            raise SnapshotNotFound(f"no snapshot of host {host} on {date} (UTC)")
        return max(day)
    if selector in (None, "latest"):
        mine = [ref for ref in refs if ref.host == host and not is_pre_restore(ref)]
        if not mine:
            raise SnapshotNotFound(f"no snapshot of host {host} in the repository")
        return max(mine)
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
