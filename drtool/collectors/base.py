"""The Collector interface every kind of configuration implements, and what it produces.

A collector owns some paths of the host (its roots) and knows how to read them into an Artifact
and how to put a staged artifact back. The restore engine grows this interface with validate,
capture, restart and healthcheck; each kind stays one file.
"""

from __future__ import annotations

import logging
import os
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drtool.archive import FileEntry, list_tree
from drtool.errors import CollectError
from drtool.host import Host
from drtool.hostpath import relative_host_path
from drtool.install import StagedArtifact, install_roots, remove_roots
from drtool.runner import Runner
from drtool.snapshot import ArtifactRecord, PartRef

if TYPE_CHECKING:
    from drtool.validation import StagedTree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Artifact:
    """What one collector read from a host: file entries under its roots, plus metadata."""

    kind: str
    roots: tuple[str, ...]
    entries: tuple[FileEntry, ...]
    missing: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, bytes] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return bool(self.outputs) or len(self.missing) < len(self.roots)

    def record(self, parts: tuple[PartRef, ...] = ()) -> ArtifactRecord:
        """The manifest's record of this artifact, stored as ``parts``."""
        return ArtifactRecord(
            kind=self.kind,
            present=self.present,
            roots=self.roots,
            missing=self.missing,
            metadata=self.metadata,
            entries=len(self.entries) + len(self.outputs),
            size=sum(entry.size for entry in self.entries),
            parts=parts,
        )


class Collector(ABC):
    """One kind of configuration. The restore engine calls, in order: validate every staged
    artifact (nothing live changes unless all pass), apply, restart, healthcheck."""

    kind: str
    # The host paths (relative to the root) this kind owns on the restoring host: the only ones
    # a restore of the kind may replace (drtool.roots).
    roots: tuple[str, ...] = ()
    # Whether applying changes running state rather than files (the firewall, docker networks):
    # such a kind is never applied where the restore manages no services (--target, sandboxes).
    live_state: bool = False
    # Whether a failed apply leaves the host as it was (files: every root is built before any
    # is swapped in). The firewall (table by table) and docker (network by network) are not:
    # a kind that fails half-way is rolled back with the kinds applied before it.
    atomic_apply: bool = True
    # Whether a sandbox (a root directory and a network namespace) can hold this kind's state.
    # Docker's networks live in a daemon no namespace isolates: a drill validates, never applies.
    sandboxable: bool = True
    # Whether a root missing at backup was named by the operator (drtool.toml's [files]): the
    # backup says so on stderr rather than leaving it out without a word.
    warn_if_missing: bool = False
    # Whether every file of this kind is secret (WireGuard's keys): no diff, dry-run or report
    # ever shows their content (drtool.redact).
    secret_files: bool = False

    @abstractmethod
    def collect(self, host: Host) -> Artifact:
        """Read this kind's configuration from the host; a kind the host lacks is absent."""

    @staticmethod
    def tool_missing(tool: str) -> bool:
        """Whether a service's tool is not installed: its kind is then restored as files only,
        neither validated nor restarted, and the operator is told so."""
        if shutil.which(tool) is None:
            log.warning(
                "%s is not installed: its configuration is restored as files only, "
                "neither validated nor reloaded",
                tool,
            )
            return True
        return False

    def unavailable_reason(self, host: Host) -> str | None:
        """Why this kind cannot be read or restored on ``host`` (None: it can)."""
        return None

    def validate(self, host: Host, staged: StagedArtifact) -> list[str]:
        """Check a staged artifact with the service's own tool; return the problems found.

        Plain files have no tool to check them with: nothing to find.
        """
        return []

    def validate_in(self, host: Host, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        """Check a staged artifact as part of the whole snapshot staged in ``tree`` (nginx sees
        the certificates ``[files]`` holds); by default, the artifact alone."""
        return self.validate(host, staged)

    def hooks(self, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        """The code the artifact's configuration would make the host run besides the service
        itself (``file:line: what``), refused unless the operator allows hooks."""
        return []

    def apply(self, host: Host, staged: StagedArtifact) -> None:
        """Put a staged, checked artifact in place on the host, each root atomically."""
        install_roots(host, staged)

    def roll_back(self, host: Host, captured: StagedArtifact) -> None:
        """Return the host to a captured rollback point: its files, and no file that did not
        exist then (a root the capture found missing is removed)."""
        self.apply(host, captured)
        remove_roots(host, captured.record.missing)

    def restart(self, host: Host, staged: StagedArtifact) -> None:  # noqa: B027 - plain files have no service
        """Make the service take the applied configuration (``staged`` is what was applied)."""

    def running(self, host: Host) -> bool | None:
        """Whether the kind's service runs on the host now (None: a kind with no service)."""
        return None

    def stop(self, host: Host) -> None:  # noqa: B027 - plain files have no service
        """Stop the service again (a rollback, for a service that was down before)."""

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        """Return what is wrong with the service after apply and restart (nothing by default:
        installed files were verified as they were written)."""
        return []

    def semantic_diff(
        self, old: StagedArtifact | None, new: StagedArtifact | None
    ) -> dict[str, Any]:
        """What the kind's own terms say changed, beyond files (rules, peers, networks)."""
        return {}

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        """The semantic content of an artifact, for `drtool show` (beyond its file list)."""
        return {}

    # -- the dead-man's switch (drtool.deadman) ------------------------------------------------
    # A kind that can cut the operator off (the firewall) arms a switch before it applies: a
    # detached watchdog that puts the captured state back unless the restore is confirmed.
    arms_switch: bool = False

    @property
    def confirms_itself(self) -> bool:
        """Whether a passed health check (a connectivity probe) confirms the switch."""
        return False

    def switch_state(self, captured: StagedArtifact) -> dict[str, bytes]:
        """The files the watchdog needs to put ``captured`` back (written in its directory)."""
        return {}

    @classmethod
    def put_back(cls, runner: Runner, state: dict[str, bytes]) -> list[str]:
        """The watchdog's work: restore the saved ``state`` through ``runner`` (which runs in
        the host's network namespace); return the problems met. Runs without settings, in a
        process of its own, long after drtool is gone."""
        return []


class PathsCollector(Collector):
    """A collector whose configuration is files and directories, read as they are."""

    def __init__(self, kind: str, paths: tuple[str, ...]) -> None:
        self.kind = kind
        self.roots = tuple(relative_host_path(path) for path in paths)

    def collect(self, host: Host) -> Artifact:
        entries: list[FileEntry] = []
        missing: list[str] = []
        skipped: list[str] = []
        for root in self.roots:
            if not host.path(root).exists() and not host.path(root).is_symlink():
                missing.append(root)
                continue
            self.refuse_linked_root(host, root)
            root_entries, root_skipped = list_tree(host.root, root)
            entries.extend(root_entries)
            skipped.extend(root_skipped)
        # A root that is itself a socket, fifo or device gave no entry: it is no root of the
        # snapshot (which no restore could build), only a skipped special file, left alone.
        roots = tuple(root for root in self.roots if root not in skipped)
        metadata = {"skipped_special_files": skipped} if skipped else {}
        return Artifact(self.kind, roots, tuple(entries), tuple(missing), metadata)

    def refuse_linked_root(self, host: Host, root: str) -> None:
        """Raise CollectError if ``root`` is a symlink: no restore would build it
        (archive.check_roots_are_not_links), so say so now, not when the snapshot is needed."""
        if host.path(root).is_symlink():
            target = os.readlink(host.path(root))[:100]
            raise CollectError(
                f"{self.kind}: /{root} is a symlink (to {target!r}): a root is backed up and "
                "restored as a file or a directory, never as a link; configure the path it "
                "points to"
            )
