"""DR drills: prove that a snapshot restores, without touching the host.

``drtool drill`` restores a snapshot into a sandbox, a fresh root directory and a network
namespace of its own, as a restore would: every object fetched and verified, every kind
validated with its service's real tool, the files installed under the sandbox root and the
firewall restored into the sandbox's namespace; then it checks that what landed is exactly what
the snapshot holds, and measures how long each step took. It answers the auditor's question
("when did you last test a restore, and how long did it take?") with a report and, with
``--metrics``, a Prometheus textfile.

What a drill never does: restart or reload the host's services, or change its docker daemon.
Docker networks are validated against the daemon (drivers, subnet overlaps) but not created;
nginx and fail2ban configurations are checked by their tools, not started.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from drtool.capture import capture
from drtool.collectors import Collector
from drtool.config import TOOL_TIMEOUT, RestorePolicy
from drtool.diff import Redactor, file_changes
from drtool.errors import DrtoolError, UsageError, ValidationRefused
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.metrics import write_textfile
from drtool.plan import make_plan, refuse_foreign_roots, stage_plan, validate_plan
from drtool.repository import Repository
from drtool.runner import CommandFailed, Runner
from drtool.snapshot import Manifest
from drtool.timeutil import utc_now_iso
from drtool.validation import SnapshotRefused


@dataclass
class DrillReport:
    snapshot_id: str
    host: str
    started: str = field(default_factory=utc_now_iso)
    outcome: str = "in progress"
    kinds: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    bytes: int = 0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def summary(self) -> str:
        timing = ", ".join(f"{step} {value:.2f} s" for step, value in self.seconds.items())
        lines = [f"drill {self.outcome}: snapshot {self.snapshot_id} of {self.host} ({timing})"]
        lines += [f"  {kind}: {what}" for kind, what in self.kinds.items()]
        lines += [f"  problem: {problem}" for problem in self.problems]
        return "\n".join(lines)


def run_drill(
    repository: Repository,
    manifest: Manifest,
    collectors: Sequence[Collector],
    keep: Path | None = None,
    policy: RestorePolicy | None = None,
    tool_timeout: float = TOOL_TIMEOUT,
) -> DrillReport:
    """Drill ``manifest`` in a sandbox (kept at ``keep`` if given, else removed); never raises
    for what the drill finds: the report says it. A snapshot that no restore would take (a root
    this host does not give its kind) is refused as a restore refuses it, before any sandbox."""
    refuse_foreign_roots(manifest, collectors, policy)
    report = DrillReport(manifest.id, manifest.host)
    report.bytes = sum(record.size for record in manifest.artifacts)
    started = time.monotonic()
    with _sandbox(keep) as (root, namespace), tempfile.TemporaryDirectory() as scratch:
        host = Host(
            root,
            manifest.host,
            Runner(netns=namespace, timeout=tool_timeout),
            services=True,
            allow_hooks=bool(policy and policy.allow_hooks),
        )
        try:
            _drill(repository, manifest, collectors, host, Path(scratch), report, policy)
        except DrtoolError as error:
            report.problems.append(str(error))
        except OSError as error:
            report.problems.append(f"{error.strerror or error}: {error.filename or ''}".strip())
    report.seconds["total"] = round(time.monotonic() - started, 3)
    report.outcome = "failed" if report.problems else "passed"
    return report


def _drill(
    repository: Repository,
    manifest: Manifest,
    collectors: Sequence[Collector],
    host: Host,
    scratch: Path,
    report: DrillReport,
    policy: RestorePolicy | None,
) -> None:
    with _timed(report, "fetch"):
        (scratch / "staged").mkdir()
        plan = stage_plan(
            repository, make_plan(manifest, collectors, None, host, policy), scratch / "staged"
        )
    for kind in plan.absent:
        report.kinds[kind] = "absent in the snapshot"
    for kind, reason in plan.skipped.items():
        report.kinds[kind] = f"not drilled: {reason}"
    with _timed(report, "validate"):
        refused: tuple[str, ...] = ()
        try:
            validate_plan(host, plan, rebuilt_host=True)
        except ValidationRefused as error:  # reported; the drill goes on to what it can check
            report.problems.append(str(error))
            # A refusal that names no kind (a hook) refuses them all: nothing refused is applied,
            # not even in the sandbox (a refused ruleset may carry a --modprobe).
            refused = (
                error.refused
                if isinstance(error, SnapshotRefused) and error.refused
                else tuple(collector.kind for collector, _ in plan.staged)
            )
    with _timed(report, "apply"):
        for collector, staged in plan.staged:
            if collector.kind in refused:
                report.kinds[collector.kind] = "refused by validation, not applied"
            elif not collector.sandboxable:
                report.kinds[collector.kind] = "validated (its state cannot be sandboxed)"
            else:
                collector.apply(host, staged)
    with _timed(report, "verify"):
        for collector, staged in plan.staged:
            if not collector.sandboxable or collector.kind in refused:
                continue
            problems = _verify(collector, host, staged, scratch)
            report.problems += problems
            report.kinds[collector.kind] = (
                "restored, differs from the snapshot" if problems else "restored and verified"
            )


def _verify(collector: Collector, host: Host, staged: StagedArtifact, scratch: Path) -> list[str]:
    """What differs between the snapshot and what the sandbox now holds."""
    if collector.live_state:
        return collector.healthcheck(host, staged)
    directory = scratch / f"landed-{collector.kind}"
    directory.mkdir()
    landed = capture(host, collector, directory)
    changes = file_changes(staged, landed, Redactor())
    return [
        f"{collector.kind}: {what} {item if isinstance(item, str) else item['path']}"
        for what, items in changes.items()
        for item in items
    ]


@contextmanager
def _timed(report: DrillReport, step: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        report.seconds[step] = round(time.monotonic() - started, 3)


@contextmanager
def _sandbox(keep: Path | None) -> Iterator[tuple[Path, str]]:
    """A sandbox root (``keep``, or a temporary directory) and a network namespace of its own;
    both gone afterwards (but a kept root)."""
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        # A drill writes whole trees under its root: never over anything that is there.
        raise UsageError(f"--keep {keep}: a drill needs a new or empty directory")
    namespace = f"drtool-drill-{secrets.token_hex(4)}"
    runner = Runner()
    try:
        runner.run(["ip", "netns", "add", namespace])
    except CommandFailed as error:
        # Without one, the firewall could not be drilled, nor the services validated as a
        # restore validates them: a drill that checks less than a restore proves nothing.
        raise UsageError(
            f"a drill needs a network namespace of its own (root, iproute2): {error}"
        ) from None
    root = keep or Path(tempfile.mkdtemp(prefix="drtool-drill-"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        runner.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"])
        yield root, namespace
    finally:
        runner.run(["ip", "netns", "del", namespace])
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def write_metrics(path: Path, report: DrillReport) -> None:
    """The drill as Prometheus textfile metrics."""
    write_textfile(
        path,
        "drill",
        report.host,
        report.passed,
        {
            "duration_seconds": ("How long the last drill took.", report.seconds["total"]),
            "bytes": ("Bytes the drilled snapshot restores.", report.bytes),
        },
    )
