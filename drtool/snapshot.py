"""A snapshot's manifest, and how an operator names a snapshot (id, prefix, latest, --date)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from drtool.errors import IntegrityError, SnapshotNotFound, UnsupportedFormat, UsageError
from drtool.timeutil import parse_iso

MANIFEST_FORMAT = 1
_DATE = re.compile(r"\d{8}")
_SNAPSHOT_ID = re.compile(r"\d{8}T\d{6}Z(-pre)?-[0-9a-f]{8}")


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
    def from_json(cls, document: dict[str, Any]) -> Manifest:
        if document.get("format") != MANIFEST_FORMAT:
            raise UnsupportedFormat(
                f"snapshot manifest format {document.get('format')!r} is not supported"
            )
        try:
            artifacts = tuple(
                ArtifactRecord(
                    kind=item["kind"],
                    present=item["present"],
                    roots=tuple(item["roots"]),
                    missing=tuple(item["missing"]),
                    metadata=item["metadata"],
                    entries=item["entries"],
                    size=item["size"],
                    parts=tuple(PartRef(**part) for part in item["parts"]),
                )
                for item in document["artifacts"]
            )
            return cls(
                id=document["id"],
                host=document["host"],
                time=document["time"],
                tags=tuple(document["tags"]),
                drtool_version=document["drtool_version"],
                artifacts=artifacts,
                retain_until=document.get("retain_until"),
            )
        except (KeyError, TypeError) as error:
            raise IntegrityError(f"snapshot manifest is malformed ({error!r})") from None

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
        datetime.strptime(text[:16], "%Y%m%dT%H%M%SZ")
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
