"""The restore engine: it never makes things worse.

plan → fetch, verify and stage everything → validate everything with the real tools → capture
a rollback point (on disk, and as a ``pre-restore`` snapshot) → apply in order → restart →
health-check → on any failure, roll back what was applied, in reverse order, restart and check
again → report. Every step is journaled (drtool.journal), so ``--resume`` and ``--rollback``
recover from a crash or a kill anywhere. The firewall gets a dead-man's switch (drtool.deadman).

Each restore ends in exactly one outcome: applied and verified (exit 0), refused by validation
with nothing changed (22), rolled back and verified (23), or rollback incomplete (24) with the
steps the operator must take.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drtool import deadman
from drtool.capture import capture, load_staged
from drtool.collectors import Collector
from drtool.config import DEFAULT_CONFIRM_TIMEOUT, RestorePolicy
from drtool.errors import (
    DrtoolError,
    RestoreNotStarted,
    RestoreRolledBack,
    RollbackIncomplete,
    UsageError,
)
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.journal import (
    ABANDON_ADVICE,
    APPLYING,
    CAPTURING,
    COMPLETED,
    ROLLBACK_FAILED,
    ROLLED_BACK,
    ROLLING_BACK,
    VALIDATING,
    VERIFYING,
    Journal,
    JournalState,
    remove_finished_state,
)
from drtool.plan import (
    Plan,
    check_plan_roots,
    describe_error,
    make_plan,
    stage_plan,
    validate_plan,
)
from drtool.repository import Repository
from drtool.services import services_down
from drtool.snapshot import Manifest

log = logging.getLogger(__name__)


@dataclass
class RestoreReport:
    """What a restore did, for the operator (one line) and for --json (everything)."""

    snapshot_id: str
    outcome: str = "in progress"
    restored: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    roots: dict[str, list[str]] = field(default_factory=dict)  # kind -> host paths replaced
    pre_restore_snapshot: str | None = None
    firewall: str | None = None
    error: str | None = None
    operator_actions: list[str] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)  # kind -> "down before, up after"

    def summary(self) -> str:
        parts = [f"{self.outcome}: snapshot {self.snapshot_id}"]
        if self.restored:
            parts.append(f"restored {', '.join(self.restored)}")
        if self.rolled_back:
            parts.append(f"rolled back {', '.join(self.rolled_back)}")
        if self.absent:
            parts.append(f"absent in snapshot: {', '.join(self.absent)}")
        if self.skipped:
            parts.append(f"skipped: {', '.join(self.skipped)}")
        if self.firewall:
            parts.append(self.firewall)
        parts += [f"{kind}: {state}" for kind, state in self.services.items()]
        return "; ".join(parts)


def restore_snapshot(
    repository: Repository,
    manifest: Manifest,
    host: Host,
    collectors: Sequence[Collector],
    only: Collection[str] | None = None,
    confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT,
    policy: RestorePolicy | None = None,
    keep_state: bool = True,
) -> RestoreReport:
    """Restore ``manifest`` onto ``host``: check, set up, run (rolling back on failure).

    ``keep_state`` False (``--target``): the journal is removed once the restore is over, so
    that the directory receives only the snapshot's files (an unfinished one stays, for
    ``--root DIR restore --rollback``).

    Return the report of a restore applied and verified. Raise ValidationRefused (nothing
    changed), RestoreRolledBack or RollbackIncomplete (both carry the report), RestoreInProgress,
    UnsafeArchive (a root the host does not give its kind, before anything is fetched).
    """
    plan = make_plan(manifest, collectors, only, host, policy)
    Journal.refuse_if_unfinished(host, manifest.id)
    journal = _check(repository, manifest, host, plan)
    report = RestoreReport(
        manifest.id, absent=plan.absent, skipped=plan.skipped_text(), roots=plan.roots
    )
    try:
        plan = _set_up(repository, journal, host, collectors, plan.keep_setid)
        report.pre_restore_snapshot = journal.state.pre_restore_snapshot
        return _run(journal, host, plan, report, confirm_timeout)
    finally:
        journal.close()
        if not keep_state:
            remove_finished_state(host)


def _check(repository: Repository, manifest: Manifest, host: Host, plan: Plan) -> Journal:
    """Stage and validate everything in a private directory (a refused restore never writes on
    the host), then begin the journal, which takes the staged copy: the first write."""
    with _not_started_on_os_error():
        staging = Path(tempfile.mkdtemp(prefix="drtool-stage-"))
        try:
            validate_plan(host, stage_plan(repository, plan, staging))
            state = JournalState(
                restore_id=secrets.token_hex(4),
                snapshot_id=manifest.id,
                snapshot_host=manifest.host,
                kinds=[artifact.record.kind for _, artifact in plan.staged],
            )
            return Journal.begin(host, state, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _set_up(
    repository: Repository,
    journal: Journal,
    host: Host,
    collectors: Sequence[Collector],
    keep_setid: bool,
) -> Plan:
    """Capture the rollback point (on disk, and as a pre-restore snapshot where services are
    managed); return the plan as the journal holds it."""
    with _not_started_on_os_error():
        try:
            # Checked at staging by this restore; the install checks each entry as it writes.
            plan = _plan_from_journal(journal, collectors, keep_setid, check=False)
            journal.record("validated", CAPTURING)
            if host.manages_services:
                journal.state.down_before = services_down(host, plan.staged)
            for collector, _ in plan.staged:
                capture(host, collector, journal.rollback_directory)
            if host.manages_services and host.owns_network:
                journal.state.pre_restore_snapshot = _pre_restore_snapshot(repository, host, plan)
            journal.record("captured", APPLYING)
        except BaseException:
            journal.discard()  # nothing on the host has changed yet
            raise
    return plan


@contextlib.contextmanager
def _not_started_on_os_error() -> Iterator[None]:
    """Before anything is applied, a full disk or a permission (staging, the journal, the
    rollback point) means a restore that never started: one line, and nothing changed."""
    try:
        yield
    except OSError as error:
        raise RestoreNotStarted(
            f"restore not started, nothing changed: {describe_error(error)}"
        ) from None


def _pre_restore_snapshot(repository: Repository, host: Host, plan: Plan) -> str:
    """The current state of the kinds about to change, as a snapshot that can be restored."""
    from drtool.backup import WAIT_FOR_PRUNE, run_backup  # not for a --target restore

    manifest = run_backup(
        repository,
        host,
        [collector for collector, _ in plan.staged],
        tags=("pre-restore",),
        pre_restore=True,
        lock_wait=WAIT_FOR_PRUNE,
    )
    log.info("current state saved as snapshot %s (pre-restore)", manifest.id)
    return manifest.id


def _run(
    journal: Journal, host: Host, plan: Plan, report: RestoreReport, confirm_timeout: float
) -> RestoreReport:
    """Apply, restart and check every staged kind from where the journal stands."""
    applying: Collector | None = None
    try:
        for collector, artifact in plan.staged:
            kind = artifact.record.kind
            if kind in journal.state.applied:
                continue
            if collector.arms_switch:
                deadman.arm(
                    host,
                    _switch(journal, host, kind),
                    journal.rollback_directory,
                    collector,
                    confirm_timeout,
                )
            journal.record(f"applying {kind}")
            applying = collector
            collector.apply(host, artifact)
            applying = None
            journal.state.applied.append(kind)
            journal.record(f"applied {kind}")
        journal.record("verifying", VERIFYING)
        if host.manages_services:
            for collector, artifact in plan.staged:
                _restart_and_check(journal, host, collector, artifact, report)
    except (DrtoolError, OSError) as error:  # OSError: a full disk, a permission, …
        report.error = describe_error(error)
        if applying is not None and not applying.atomic_apply:
            journal.state.applied.append(applying.kind)  # half-applied: undone with the rest
        elif applying is not None and applying.arms_switch:
            # an atomic apply that failed changed nothing: its switch has nothing to put back
            deadman.disarm(_switch(journal, host, applying.kind))
        staged = [collector for collector, _ in plan.staged]
        raise _roll_back(journal, host, staged, report) from None
    switched = [c for c, _ in plan.staged if c.arms_switch and c.kind in journal.state.applied]
    if switched:
        report.firewall = _settle_switches(journal, host, switched, confirm_timeout)
    report.restored = list(journal.state.applied)
    report.outcome = (
        "applied and verified"
        if host.manages_services
        else "applied (files only: no service checked or restarted)"
    )
    journal.record("completed", COMPLETED)
    journal.finish()
    return report


def _restart_and_check(
    journal: Journal,
    host: Host,
    collector: Collector,
    artifact: StagedArtifact,
    report: RestoreReport,
) -> None:
    """Restart (or start) a kind's service and check it. A service that was down before the
    restore and is still down after is reported, not a reason to roll the others back."""
    kind = artifact.record.kind
    was_down = kind in journal.state.down_before
    try:
        collector.restart(host, artifact)
        journal.record(f"restarted {kind}")
        problems = collector.healthcheck(host, artifact)
    except DrtoolError as error:
        if not was_down:
            raise
        problems = [str(error)]
    if problems and not was_down:
        raise RestoreFailedStep(f"{kind}: {'; '.join(problems)}")
    if was_down:
        report.services[kind] = (
            f"down before, still down after: {'; '.join(problems)}"
            if problems
            else "down before, up after"
        )
    if not problems:
        journal.record(f"healthy {kind}")


class RestoreFailedStep(DrtoolError):
    """A health check found a problem after apply and restart."""


def _switch(journal: Journal, host: Host, kind: str) -> Path:
    return deadman.switch_directory(host, journal.state.restore_id, kind)


def _settle_switches(
    journal: Journal, host: Host, collectors: list[Collector], timeout: float
) -> str:
    """Confirm the dead-man's switch of each kind whose probe ran (in the health check)."""
    waiting = []
    for collector in collectors:
        if host.manages_services and collector.confirms_itself:
            deadman.confirm(_switch(journal, host, collector.kind))
        else:
            waiting.append(collector.kind)
    if not waiting:
        return "firewall confirmed by the connectivity probe"
    return (
        f"firewall ({', '.join(waiting)}) awaiting confirmation: run `drtool confirm` within "
        f"{timeout:g} s, or the previous rules come back"
    )


def _roll_back(
    journal: Journal, host: Host, collectors: Sequence[Collector], report: RestoreReport
) -> DrtoolError:
    """Undo every applied kind, in reverse order; return the outcome to raise."""
    journal.record("rolling back", ROLLING_BACK)
    by_kind = {collector.kind: collector for collector in collectors}
    failures = []
    for kind in reversed(list(journal.state.applied)):
        if kind in journal.state.rolled_back:
            continue
        collector = by_kind[kind]
        try:
            captured = load_staged(journal.rollback_directory, kind)
            collector.roll_back(host, captured)
            if collector.arms_switch:
                deadman.disarm(_switch(journal, host, kind))
            if host.manages_services and kind in journal.state.down_before:
                collector.stop(host)  # as it was: not running
            elif host.manages_services:
                collector.restart(host, captured)
                problems = collector.healthcheck(host, captured)
                if problems:
                    raise RestoreFailedStep("; ".join(problems))
            journal.state.rolled_back.append(kind)
            journal.record(f"rolled back {kind}")
        except (DrtoolError, OSError) as error:
            failures.append(f"{kind}: {describe_error(error)}")
    report.rolled_back = list(journal.state.rolled_back)
    if not failures:
        report.outcome = "rolled back and verified"
        journal.state.error = report.error
        journal.record("rolled back", ROLLED_BACK)
        journal.finish()
        return RestoreRolledBack(
            f"restore failed and was rolled back, the host is as it was: {report.error}", report
        )
    report.outcome = "rollback incomplete"
    report.operator_actions = _operator_actions(journal, failures)
    journal.state.error = f"{report.error}; rollback: {'; '.join(failures)}"
    journal.record("rollback failed", ROLLBACK_FAILED)
    return RollbackIncomplete(
        f"restore failed ({report.error}) and its rollback too ({'; '.join(failures)}): "
        f"{report.operator_actions[0]}",
        report,
    )


def _operator_actions(journal: Journal, failures: list[str]) -> list[str]:
    actions = ["fix what the rollback reports, then run `drtool restore --rollback --yes`"]
    if journal.state.pre_restore_snapshot:
        actions.append(
            f"or restore the state from before: `drtool restore "
            f"{journal.state.pre_restore_snapshot} --yes`"
        )
    actions.append(f"or, if you repair the host by hand, {ABANDON_ADVICE}")
    actions.append(f"the rollback point is kept in {journal.rollback_directory}")
    return actions


def resume(
    host: Host,
    collectors: Sequence[Collector],
    confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT,
    policy: RestorePolicy | None = None,
) -> RestoreReport:
    """Finish an interrupted restore from its journal and its staged copy."""
    journal = Journal.reopen(host)
    try:
        policy = policy or RestorePolicy()
        plan = _plan_from_journal(journal, collectors, policy.keep_setid)
        report = _report_of(journal)
        # The staged copy is checked again (load_staged), its roots too: this host's own.
        check_plan_roots(
            [(collector, staged.record) for collector, staged in plan.staged], collectors, policy
        )
        if journal.state.phase in (VALIDATING, CAPTURING):
            return _nothing_to_do(journal, report, "resume")
        if journal.state.phase in (ROLLING_BACK, ROLLBACK_FAILED):
            raise UsageError(
                "this restore was rolling back: finish with `drtool restore --rollback --yes`"
            )
        journal.record("resuming", APPLYING)
        return _run(journal, host, plan, report, confirm_timeout)
    finally:
        journal.close()


def roll_back(host: Host, collectors: Sequence[Collector]) -> RestoreReport:
    """Return the host to the rollback point of an interrupted or failed restore."""
    journal = Journal.reopen(host)
    try:
        # Only the rollback point is read: the staged snapshot is not needed to undo it.
        report = _report_of(journal)
        if journal.state.phase in (VALIDATING, CAPTURING):
            return _nothing_to_do(journal, report, "roll back")
        if journal.state.phase == APPLYING:
            # The kind being applied when it stopped may be half-way: roll it back too.
            journal.state.applied = list(
                dict.fromkeys([*journal.state.applied, *_started(journal)])
            )
        report.error = journal.state.error or f"interrupted while {journal.state.phase}"
        outcome = _roll_back(journal, host, collectors, report)
        if isinstance(outcome, RestoreRolledBack):
            report.outcome = "rolled back and verified"
            return report
        raise outcome
    finally:
        journal.close()


def _report_of(journal: Journal) -> RestoreReport:
    return RestoreReport(
        journal.state.snapshot_id, pre_restore_snapshot=journal.state.pre_restore_snapshot
    )


def _nothing_to_do(journal: Journal, report: RestoreReport, verb: str) -> RestoreReport:
    """A restore that stopped before changing anything: forget it."""
    journal.discard()
    report.outcome = f"nothing to {verb}: it stopped before changing anything"
    return report


def _started(journal: Journal) -> list[str]:
    return [
        event.removeprefix("applying ")
        for event in journal.state.events
        if event.startswith("applying ")
    ]


def _plan_from_journal(
    journal: Journal, collectors: Sequence[Collector], keep_setid: bool, check: bool = True
) -> Plan:
    by_kind = {collector.kind: collector for collector in collectors}
    return Plan(
        staged=[
            (by_kind[kind], load_staged(journal.staged_directory, kind, keep_setid, check=check))
            for kind in journal.state.kinds
        ]
    )
