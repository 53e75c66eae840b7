"""What this machine has seen of a repository: per host, the newest snapshot it has read or
written. A snapshot it has seen cannot later vanish unnoticed (drtool/chain.py). And the newest
record of revoked writers it has seen, with the revocations it knows: a revoked writer's
registration put back, or that record rolled back, is refused (drtool/keyring/revocations.py).

One file per repository, ``var/lib/drtool/seen/<repository-id>.json`` under the host root (the
directory 0700, the file 0600), rewritten atomically and only when it changes; the revocations
beside it, ``<repository-id>.revocations.json`` (so that a drtool without them reads the first
as before); and per host the newest status record it read, ``<repository-id>.heads.json``
(drtool/fleet_heads.py). Each file is this
machine's own memory, yet it is read as hostile input: a damaged one is refused in one line
(exit 55), never trusted and never silently replaced; the operator moves it aside to start over.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from drtool.errors import ConfigError, IntegrityError, StateDamaged
from drtool.fsutil import make_directory, write_atomically
from drtool.hostname import check_host_name
from drtool.keyring.revocations import Revocations, parse_writers
from drtool.snapshot import SnapshotRef, by_time, is_snapshot_id
from drtool.timeutil import parse_iso

if TYPE_CHECKING:
    from drtool.host import Host

log = logging.getLogger(__name__)

SEEN_DIRECTORY = "var/lib/drtool/seen"
STATE_FORMAT = 1
# Far more than a fleet's hosts need (about 100 bytes each): a larger file is not drtool's.
MAX_STATE_SIZE = 4 * 1024 * 1024
_REPOSITORY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class SeenState:
    """The newest snapshot seen of each host of one repository."""

    path: Path
    repository_id: str
    newest: dict[str, str] = field(default_factory=dict)
    _stored: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, host: Host, repository_id: str) -> SeenState:
        """This machine's state for ``repository_id`` (empty if it has none); raise
        StateDamaged if the file is unreadable, malformed, a link, or writable by others."""
        path = _state_path(host.root, repository_id, ".json")
        text = _read(path)
        newest = {} if text is None else _parse(path, text, repository_id)
        return cls(path, repository_id, newest, dict(newest))

    def newest_of(self, host: str) -> str | None:
        return self.newest.get(host)

    def saw(self, host: str, snapshot_id: str) -> None:
        """Remember ``snapshot_id`` of ``host`` if it is newer than what was seen."""
        known = self.newest.get(host)
        if known is None or by_time(SnapshotRef(snapshot_id, host)) > by_time(
            SnapshotRef(known, host)
        ):
            self.newest[host] = snapshot_id

    def reset(self, host: str, snapshot_id: str | None) -> None:
        """The operator accepted what is missing: ``snapshot_id`` is the newest there is."""
        if snapshot_id is None:
            self.newest.pop(host, None)
        else:
            self.newest[host] = snapshot_id

    def save(self) -> None:
        """Write the state if it changed. A host root drtool cannot write to (a look with
        --target by an unprivileged user) costs the memory of this run, with a warning."""
        if self.newest == self._stored:
            return
        hosts = dict(sorted(self.newest.items()))
        if _write(self.path, {"repository_id": self.repository_id, "hosts": hosts}):
            self._stored = dict(self.newest)


@dataclass
class SeenRevocations:
    """The newest record of revoked writers this machine saw of one repository (its number)
    and every revocation it knows; only ever grows (drtool/keyring/revocations.py)."""

    path: Path
    repository_id: str
    revocations: Revocations

    @classmethod
    def load(cls, root: Path, repository_id: str) -> SeenRevocations:
        """As SeenState.load, from ``<repository-id>.revocations.json`` under the host root
        ``root`` (a path, not a Host: a reader that only lists needs no runner loaded)."""
        path = _state_path(root, repository_id, ".revocations.json")
        return cls(path, repository_id, _read_revocations(path, repository_id))

    def remember(self, revocations: Revocations) -> None:
        """Add ``revocations`` and write them at once if that changes anything, merged with the
        file as it is now (another drtool of this machine may have added to it)."""
        merged = self.revocations.merged(revocations)
        if merged == self.revocations:
            return
        merged = merged.merged(_read_revocations(self.path, self.repository_id))
        document = {
            "repository_id": self.repository_id,
            "sequence": merged.sequence,
            "writers": dict(sorted(merged.writers.items())),
        }
        if _write(self.path, document):
            self.revocations = merged


@dataclass
class SeenHeads:
    """When the newest status record (``heads/<host>``) this machine read of each host of one
    repository was written (its ``updated``, UTC ISO 8601); only ever grows."""

    path: Path
    repository_id: str
    written: dict[str, str]

    @classmethod
    def load(cls, root: Path, repository_id: str) -> SeenHeads:
        """As SeenRevocations.load, from ``<repository-id>.heads.json``."""
        path = _state_path(root, repository_id, ".heads.json")
        return cls(path, repository_id, _read_heads(path, repository_id))

    def remember(self, written: Mapping[str, str]) -> None:
        """Keep the later of each host's time and ``written``'s, merged with the file as it is
        now (another drtool of this machine may have added to it); write it if that changes."""
        merged = _later(self.written, written)
        if merged == self.written:
            return
        merged = _later(merged, _read_heads(self.path, self.repository_id))
        document = {"repository_id": self.repository_id, "hosts": dict(sorted(merged.items()))}
        if _write(self.path, document):
            self.written = merged


def _later(first: Mapping[str, str], second: Mapping[str, str]) -> dict[str, str]:
    merged = dict(first)
    for host, written in second.items():
        if host not in merged or parse_iso(written) > parse_iso(merged[host]):
            merged[host] = written
    return merged


def _read_heads(path: Path, repository_id: str) -> dict[str, str]:
    text = _read(path)
    if text is None:
        return {}
    return _hosts(path, _document(path, text, repository_id), "time", _is_time)


def _is_time(value: str) -> bool:
    try:
        parse_iso(value)
    except ValueError:
        return False
    return True


def _state_path(root: Path, repository_id: str, suffix: str) -> Path:
    if not _REPOSITORY_ID.fullmatch(repository_id):
        raise IntegrityError(f"the repository's id {repository_id[:64]!r} is malformed")
    return root / SEEN_DIRECTORY / f"{repository_id}{suffix}"


def _write(path: Path, fields: dict[str, object]) -> bool:
    document = {"format": STATE_FORMAT, **fields}
    data = json.dumps(document, indent=2).encode() + b"\n"
    if len(data) > MAX_STATE_SIZE:  # the next load would refuse it as damaged (exit 55)
        log.warning("not recorded what this machine saw in %s: it would exceed its size", path)
        return False
    try:
        make_directory(path.parent.parent, 0o700)  # var/lib/drtool
        make_directory(path.parent, 0o700)
        write_atomically(path, data)
    except OSError as error:
        log.warning("could not record what this machine saw in %s: %s", path, error)
        return False
    return True


def _read_revocations(path: Path, repository_id: str) -> Revocations:
    text = _read(path)
    if text is None:
        return Revocations()
    document = _document(path, text, repository_id)
    sequence = document.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        raise _damaged(path, "'sequence' is not a number")
    try:
        return Revocations(sequence, parse_writers(document.get("writers")))
    except ValueError:
        raise _damaged(path, "'writers' is malformed") from None


def _damaged(path: Path, why: str) -> StateDamaged:
    return StateDamaged(
        f"{path} is damaged ({why}): drtool will not trust it; move it aside to start over "
        "(this machine then knows only what the repository says)"
    )


def _read(path: Path) -> str | None:
    """The file's text, or None if there is none; never through a link."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _damaged(path, error.strerror or error.__class__.__name__) from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise _damaged(path, "not a regular file")
        if status.st_mode & 0o022 or status.st_uid != os.geteuid():
            raise _damaged(path, "writable by others than its owner, or not ours")
        data = os.read(descriptor, MAX_STATE_SIZE + 1)
    finally:
        os.close(descriptor)
    if len(data) > MAX_STATE_SIZE:
        raise _damaged(path, f"larger than {MAX_STATE_SIZE // (1024 * 1024)} MiB")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise _damaged(path, "not UTF-8") from None


def _document(path: Path, text: str, repository_id: str) -> dict[str, object]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise _damaged(path, "not JSON") from None
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise _damaged(path, "not a state file of this drtool")
    if document.get("repository_id") != repository_id:
        raise _damaged(path, "it names another repository")
    return document


def _parse(path: Path, text: str, repository_id: str) -> dict[str, str]:
    return _hosts(path, _document(path, text, repository_id), "snapshot", is_snapshot_id)


def _hosts(
    path: Path, document: dict[str, object], what: str, valid: Callable[[str], bool]
) -> dict[str, str]:
    """The document's ``hosts``: host names mapped to strings that are ``valid``."""
    hosts = document.get("hosts")
    if not isinstance(hosts, dict):
        raise _damaged(path, "'hosts' is not an object")
    for host, value in hosts.items():
        try:
            check_host_name(host)
        except ConfigError:
            raise _damaged(path, "a host name is malformed") from None
        if not isinstance(value, str) or not valid(value):
            raise _damaged(path, f"the {what} of host {host} is malformed")
    return dict(hosts)
