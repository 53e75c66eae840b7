"""Which snapshots a retention policy keeps, and why: restic's rules, plus drtool's own for the
snapshots a restore takes of the state it replaces.

Backups (not ``pre-restore`` snapshots) are walked newest first, by recorded time. Each rule
keeps a snapshot if it still has a slot and the snapshot opens a period (day, week, …) the rule
has not seen yet: ``last`` keeps the N newest, ``daily``/``weekly``/``monthly`` the newest of
each of N periods, ``within`` every backup within a duration of the
newest backup. A snapshot kept by several rules names them all (``daily, weekly``).

Differences from restic: ``pre-restore`` snapshots never take a slot of those rules; they have
their own (``pre-restore``: those of the last 7 days, counted from now). Snapshots dated more
than an hour in the future are kept without taking any slot (``future-dated``). Each host's
newest snapshot, of either sort, is always kept (``newest``): a backup reuses its objects without
asking the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from drtool.errors import UsageError
from drtool.snapshot import SnapshotRef, by_time, is_future, is_pre_restore

_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?")


@dataclass(frozen=True)
class Duration:
    """restic's duration: years, months, days, hours (``1y6m``, ``7d``, ``36h``)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str, option: str) -> Duration:
        match = _DURATION.fullmatch(text.strip())
        if not text.strip() or match is None:
            raise UsageError(
                f"invalid {option} {text!r}: expected a duration such as 7d, 36h, 2y6m"
            )
        return cls(*(int(group or 0) for group in match.groups()))

    def before(self, moment: datetime) -> datetime:
        """``moment`` minus this duration (months and years by the calendar, as restic)."""
        months = moment.year * 12 + moment.month - 1 - self.years * 12 - self.months
        year, month = divmod(months, 12)
        day = min(moment.day, _days_in(year, month + 1))
        shifted = moment.replace(year=year, month=month + 1, day=day)
        return shifted - timedelta(days=self.days, hours=self.hours)

    def __str__(self) -> str:
        text = "".join(
            f"{count}{unit}"
            for count, unit in zip(
                (self.years, self.months, self.days, self.hours), "ymdh", strict=True
            )
            if count
        )
        return text or "0h"


def _days_in(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return (following - timedelta(days=1)).day


DEFAULT_PRE_RESTORE = Duration(days=7)

_PERIODS: dict[str, tuple[str, Callable[[datetime], str]]] = {
    "daily": ("day", lambda moment: moment.strftime("%Y-%m-%d")),
    "weekly": ("week", lambda moment: moment.strftime("%G-W%V")),
    "monthly": ("month", lambda moment: moment.strftime("%Y-%m")),
}


@dataclass(frozen=True)
class KeepPolicy:
    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    within: Duration | None = None
    pre_restore: Duration = DEFAULT_PRE_RESTORE

    def counts(self) -> dict[str, int]:
        return {
            "last": self.last,
            "daily": self.daily,
            "weekly": self.weekly,
            "monthly": self.monthly,
        }

    def check(self) -> None:
        if min(self.counts().values()) < 0:
            raise UsageError("--keep-* counts must not be negative")
        if not (any(self.counts().values()) or self.within):
            raise UsageError(
                "give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly, "
                "--keep-within"
            )


@dataclass
class Decision:
    """Why one snapshot is kept (``reasons``) or removed (``why_not``)."""

    ref: SnapshotRef
    reasons: list[str] = field(default_factory=list)
    why_not: list[str] = field(default_factory=list)

    @property
    def keep(self) -> bool:
        return bool(self.reasons)


def decide(refs: Sequence[SnapshotRef], policy: KeepPolicy, now: datetime) -> list[Decision]:
    """Given one host's snapshots, say of each (newest first) whether the policy keeps it, and
    why."""
    newest_first = sorted(refs, key=by_time, reverse=True)
    decisions = [Decision(ref) for ref in newest_first]
    if decisions:
        decisions[0].reasons.append("newest")
    backups = []
    for decision in decisions:
        ref = decision.ref
        if ref.time is None:
            decision.reasons.append("no time in its id (not counted)")
        elif is_future(ref, now):
            decision.reasons.append("future-dated (not counted)")
        elif is_pre_restore(ref):
            _pre_restore_rule(decision, policy.pre_restore, now)
        else:
            backups.append(decision)
    _backup_rules(backups, policy)
    return decisions


def _pre_restore_rule(decision: Decision, keep: Duration, now: datetime) -> None:
    assert decision.ref.time is not None
    if decision.ref.time >= keep.before(now):
        decision.reasons.append("pre-restore")
    else:
        decision.why_not.append(f"pre-restore older than {keep} (--keep-pre-restore)")


def _backup_rules(backups: list[Decision], policy: KeepPolicy) -> None:
    """restic's walk: each rule keeps a snapshot while it has slots left and the snapshot opens
    a period it has not seen, or is the oldest backup (restic keeps it to stretch the history)."""
    left = policy.counts()
    last_period: dict[str, str] = {}
    oldest_within = policy.within.before(backups[0].ref.time) if policy.within and backups else None
    for decision in backups:
        oldest = decision is backups[-1]
        moment = decision.ref.time
        assert moment is not None
        if left["last"] > 0:
            left["last"] -= 1
            decision.reasons.append("last")
        elif policy.last:
            decision.why_not.append(f"last: {policy.last} newer kept")
        for rule, (unit, period_of) in _PERIODS.items():
            if not getattr(policy, rule):
                continue
            period = period_of(moment)
            if left[rule] > 0 and (period != last_period.get(rule) or oldest):
                left[rule] -= 1
                last_period[rule] = period
                decision.reasons.append(rule)
            elif period == last_period.get(rule):
                decision.why_not.append(f"{rule}: its {unit} {period} has a newer one")
            else:
                decision.why_not.append(f"{rule}: {getattr(policy, rule)} {unit}s already kept")
        if oldest_within is not None:
            if moment >= oldest_within:
                decision.reasons.append("within")
            else:
                decision.why_not.append(f"within: older than {policy.within} before the newest")
        if decision.keep:
            decision.why_not.clear()


def snapshots_to_keep(
    refs: Sequence[SnapshotRef], policy: KeepPolicy, now: datetime | None = None
) -> set[SnapshotRef]:
    """Given one host's snapshots, return those the policy keeps."""
    moment = now or datetime.now(UTC)
    return {decision.ref for decision in decide(refs, policy, moment) if decision.keep}
