"""Validating a whole snapshot at once, the way the restored host will read it.

Every kind's staged roots are written once into one private tree (a host root of their own),
and every checker sees that tree, whole, at the live paths (drtool.sandbox): nginx finds the
certificates that ``[files]`` holds, and nothing of the machine it runs on. Before any checker
runs, each kind lists the code its configuration would make the host run (an nginx module, a
WireGuard ``PostUp``, a fail2ban action): a snapshot that holds any is refused unless the
operator allowed hooks.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from drtool.disk_room import require_room
from drtool.errors import DrtoolError, ValidationRefused
from drtool.host import Host
from drtool.install import StagedArtifact, install_roots
from drtool.sandbox import View, staged_view

if TYPE_CHECKING:
    from drtool.collectors.base import Collector

log = logging.getLogger(__name__)

HOOKS_ADVICE = "run them only if you trust the snapshot: --allow-hooks or [restore] allow_hooks"


@dataclass(frozen=True)
class StagedTree:
    """A snapshot's staged files written as a host root (``root``), and the view that shows
    each of its roots at its live path."""

    root: Path
    roots: tuple[str, ...]
    view: View
    # A drill proves a rebuilt host: nothing of this machine's stands in for what the snapshot
    # lacks. A restore keeps the host's files outside the snapshot: a checker may read those.
    rebuilt_host: bool = False

    def path(self, live_path: str) -> Path:
        """Where the staged copy of ``live_path`` (``/etc/nginx/nginx.conf``) is."""
        return self.root / live_path.lstrip("/")


@contextlib.contextmanager
def staged_tree(
    artifacts: Sequence[StagedArtifact], rebuilt_host: bool = False
) -> Iterator[StagedTree]:
    """Write every artifact's files under one private (0700) directory; removed afterwards
    (NoRoom, before anything is written, when their staged size does not fit there)."""
    declared = sum(path.stat().st_size for artifact in artifacts for path in artifact.part_paths)
    require_room(Path(tempfile.gettempdir()), declared, "validating the snapshot")
    private = Path(tempfile.mkdtemp(prefix="drtool-validate-"))
    try:
        roots: list[str] = []
        for artifact in artifacts:
            install_roots(Host(private, "staging"), artifact)
            roots += artifact.installed_roots()
        yield StagedTree(private, tuple(roots), staged_view(private, roots), rebuilt_host)
    finally:
        shutil.rmtree(private, ignore_errors=True)


class SnapshotRefused(ValidationRefused):
    """Validation refused some kinds of the snapshot; ``refused`` lists them (a drill reports
    each, and never calls one verified)."""

    def __init__(self, message: str, refused: Sequence[str]) -> None:
        super().__init__(message)
        self.refused = tuple(refused)


def snapshot_hooks(staged: Sequence[tuple[Collector, StagedArtifact]]) -> list[str]:
    """Every hook of the staged kinds (``file:line: what``), for the plan to list."""
    with staged_tree([artifact for _, artifact in staged]) as tree:
        return [hook for collector, artifact in staged for hook in collector.hooks(artifact, tree)]


def validate_all(
    host: Host, staged: Sequence[tuple[Collector, StagedArtifact]], rebuilt_host: bool = False
) -> None:
    """Check every staged kind against the whole snapshot; raise SnapshotRefused listing every
    finding (hooks the operator did not allow first: no checker runs then)."""
    with staged_tree([artifact for _, artifact in staged], rebuilt_host) as tree:
        hooks = {collector.kind: collector.hooks(artifact, tree) for collector, artifact in staged}
        hooks = {kind: found for kind, found in hooks.items() if found}
        listed = [hook for found in hooks.values() for hook in found]
        if listed and not host.allow_hooks:
            raise SnapshotRefused(
                "validation refused the snapshot, nothing changed: it would run code on this "
                f"host ({'; '.join(listed)}); {HOOKS_ADVICE}",
                list(hooks),
            )
        for hook in listed:
            log.warning("hook allowed by the operator: %s", hook)
        findings: dict[str, list[str]] = {}
        for collector, artifact in staged:
            try:
                found = collector.validate_in(host, artifact, tree)
            except (DrtoolError, OSError) as error:  # the checking tool itself failed
                found = [f"{collector.kind} could not be checked: {_describe(error)}"]
            if found:
                findings[collector.kind] = found
    if findings:
        listed = [finding for found in findings.values() for finding in found]
        raise SnapshotRefused(
            f"validation refused the snapshot, nothing changed: {'; '.join(listed)}",
            list(findings),
        )


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and not isinstance(error, DrtoolError):
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    return str(error)
