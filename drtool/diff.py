"""Semantic diffs: two snapshots, or a snapshot and the live host, kind by kind.

Files give unified diffs and mode, owner and link changes; each collector adds what its kind
means (firewall rules per table and chain, docker network fields, WireGuard peers by public
key). Secrets never appear (drtool.redact says what is secret): a secret file's diff is "content
changed (redacted)", a line setting a secret shows ``<redacted>`` and a note that it changed.
``restore --dry-run`` prints the same diff against the live host, and changes nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from drtool.archive import EntryType, FileEntry
from drtool.capture import capture, stage_artifact
from drtool.collectors import Collector
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.readable import readable
from drtool.redact import WITHHELD, Redactor
from drtool.repository import Repository
from drtool.snapshot import Manifest

_TEXT_LIMIT = 1024 * 1024


def file_contents(staged: StagedArtifact | None) -> dict[str, tuple[FileEntry, bytes | None]]:
    """Every file entry of a staged artifact with its content (None for large files)."""
    found: dict[str, tuple[FileEntry, bytes | None]] = {}
    if staged is None:
        return found
    for archive, member, entry in staged.members():
        content = None
        if entry.type is EntryType.FILE and entry.size <= _TEXT_LIMIT:
            source = archive.extractfile(member)
            content = source.read() if source else b""
        found[entry.path] = (entry, content)
    return found


def file_changes(
    old: StagedArtifact | None, new: StagedArtifact | None, redactor: Redactor
) -> dict[str, Any]:
    """Added, removed and changed paths from ``old`` to ``new``, with redacted unified diffs."""
    before, after = file_contents(old), file_contents(new)
    changed = []
    for path in sorted(set(before) & set(after)):
        (was, was_content), (now, now_content) = before[path], after[path]
        change: dict[str, Any] = {"path": f"/{path}"}
        if was.type != now.type:
            change["type"] = f"{was.type.value} -> {now.type.value}"
        if was.mode != now.mode:
            change["mode"] = f"{was.mode:04o} -> {now.mode:04o}"
        if (was.uid, was.gid) != (now.uid, now.gid):
            change["owner"] = f"{was.uid}:{was.gid} -> {now.uid}:{now.gid}"
        if was.link_target != now.link_target:
            change["link"] = f"{was.link_target} -> {now.link_target}"
        if was_content != now_content or (was.size != now.size and was_content is None):
            change["content"] = _content_diff(path, was_content, now_content, redactor)
        if len(change) > 1:
            changed.append(change)
    return {
        "added": [f"/{path}" for path in sorted(set(after) - set(before))],
        "removed": [f"/{path}" for path in sorted(set(before) - set(after))],
        "changed": changed,
    }


def _content_diff(
    path: str, was: bytes | None, now: bytes | None, redactor: Redactor
) -> list[str] | str:
    if was is None or now is None:
        return "content changed (large file)"
    try:
        old_lines, new_lines = redactor.for_display(path, was), redactor.for_display(path, now)
    except UnicodeDecodeError:
        return "binary content changed"
    if old_lines is None or new_lines is None:
        return WITHHELD
    diff = list(difflib.unified_diff(old_lines, new_lines, f"a/{path}", f"b/{path}", lineterm=""))
    if not diff:
        return ["a secret changed (redacted)"]
    secret = any("<redacted>" in line for line in diff if line[:1] in "+-")
    return diff + (["(a secret changed: values redacted)"] if secret else [])


def kind_diff(
    collector: Collector,
    old: StagedArtifact | None,
    new: StagedArtifact | None,
    redactor: Redactor,
) -> dict[str, Any]:
    """The semantic diff of one kind; an empty dict when nothing differs."""
    changes = file_changes(old, new, redactor.whole() if collector.secret_files else redactor)
    if not any(changes.values()):
        changes = {}
    changes.update(collector.semantic_diff(old, new))
    return changes


def live_artifacts(
    host: Host, collectors: Sequence[Collector], directory: Path
) -> dict[str, StagedArtifact]:
    """The live host's state of each kind, captured into ``directory``."""
    live = {}
    for collector in collectors:
        if collector.unavailable_reason(host) is None:
            kind_directory = directory / collector.kind
            kind_directory.mkdir()
            live[collector.kind] = capture(host, collector, kind_directory)
    return live


def snapshot_artifacts(
    repository: Repository, manifest: Manifest, kinds: Iterable[str], directory: Path
) -> dict[str, StagedArtifact]:
    found = {}
    for record in manifest.artifacts:
        if record.kind in kinds and record.present:
            kind_directory = directory / record.kind
            kind_directory.mkdir()
            found[record.kind] = stage_artifact(
                repository, record, kind_directory, host=manifest.host
            )
    return found


def diff(
    collectors: Sequence[Collector],
    old: dict[str, StagedArtifact],
    new: dict[str, StagedArtifact],
    redactor: Redactor,
) -> dict[str, Any]:
    """Per kind (in restore order), what changes from ``old`` to ``new``."""
    result = {}
    for collector in collectors:
        if collector.kind in old or collector.kind in new:
            changes = kind_diff(
                collector, old.get(collector.kind), new.get(collector.kind), redactor
            )
            if changes:
                result[collector.kind] = changes
    return result


def human(changes: dict[str, Any]) -> str:
    """The diff as an operator reads it."""
    if not changes:
        return "no differences"
    lines = []
    for kind, change in changes.items():
        lines.append(f"== {kind}")
        for path in change.get("added", []):
            lines.append(f"  + {path}")
        for path in change.get("removed", []):
            lines.append(f"  - {path}")
        for item in change.get("changed", []):
            details = ", ".join(
                f"{key} {value}" for key, value in item.items() if key not in ("path", "content")
            )
            lines.append(f"  ~ {item['path']}" + (f" ({details})" if details else ""))
            content = item.get("content")
            if isinstance(content, list):
                lines += [f"      {line}" for line in content]
            elif content:
                lines.append(f"      {content}")
        for key, value in change.items():
            if key not in ("added", "removed", "changed"):
                lines += readable(key, value)
    return "\n".join(lines)
