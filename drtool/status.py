"""The fleet view: every host's newest snapshot and its age, its last drill, the repository's
last check, and which hosts need attention (no backup within ``max_age``, a failed backup, a
failed drill, a status record that is refused)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from drtool.duration import duration_text
from drtool.errors import FleetNeedsAttention
from drtool.heads import CHECK_HOST, HostHead, RefusedHead
from drtool.timeutil import parse_iso


@dataclass
class HostStatus:
    host: str
    snapshot: dict[str, Any] | None
    age_seconds: float | None
    backup_failure: dict[str, Any] | None
    drill: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclass
class FleetStatus:
    max_age_seconds: float
    hosts: list[HostStatus]
    check: dict[str, Any] | None
    check_problem: str | None = None  # the check's record is refused: why

    def describe(self) -> str:
        rows = [("Host", "Newest snapshot", "Age", "Last drill", "Status")]
        for item in self.hosts:
            snapshot = item.snapshot["id"] if item.snapshot else "-"
            age = duration_text(timedelta(seconds=item.age_seconds)) if item.snapshot else "-"
            drill = (
                f"{item.drill['time'][:10]} {'passed' if item.drill['passed'] else 'FAILED'}"
                if item.drill
                else "never"
            )
            rows.append((item.host, snapshot, age, drill, "; ".join(item.problems) or "ok"))
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"last check: {self._check_text()}")
        attention = [item.host for item in self.hosts if not item.healthy]
        lines.append(
            f"{len(self.hosts)} host(s), {len(attention)} need(s) attention"
            + (f": {', '.join(attention)}" if attention else "")
        )
        return "\n".join(lines)

    def _check_text(self) -> str:
        check = self.check
        if self.check_problem:
            return f"unknown ({self.check_problem})"
        if not check:
            return "never"
        read_data = " (read data)" if check["read_data"] else ""
        return f"{check['time'][:19]}Z {'passed' if check['passed'] else 'FAILED'}{read_data}"

    def _check_attention(self) -> str | None:
        """Why the repository's own check needs attention: its record refused, or it failed."""
        if self.check_problem:
            return self.check_problem
        if self.check and not self.check["passed"]:
            return f"last check failed at {self.check['time'][:19]}Z"
        return None

    def raise_for_problems(self) -> None:
        attention = [
            f"{item.host} ({'; '.join(item.problems)})" for item in self.hosts if not item.healthy
        ]
        check_problem = self._check_attention()
        if check_problem:
            attention.insert(0, f"{CHECK_HOST} ({check_problem})")
        if attention:
            raise FleetNeedsAttention(
                f"{len(attention)} host(s) need attention: {', '.join(attention[:5])}"
                + (", …" if len(attention) > 5 else "")
            )


def fleet_status(
    heads: Mapping[str, HostHead | RefusedHead], now: datetime, max_age: timedelta
) -> FleetStatus:
    """Given every host's head, return the fleet's status at ``now``."""
    hosts = []
    for host, head in sorted(heads.items()):
        if host == CHECK_HOST:
            continue
        if isinstance(head, RefusedHead):
            hosts.append(HostStatus(host, None, None, None, None, [head.problem]))
            continue
        status = HostStatus(host, head.snapshot, None, head.backup_failure, head.drill)
        if head.snapshot:
            age = now - parse_iso(head.snapshot["time"])
            status.age_seconds = age.total_seconds()
            if age > max_age:
                status.problems.append(f"newest snapshot {duration_text(age)} old")
        else:
            status.problems.append("never backed up")
        failure = head.backup_failure
        if failure:
            status.problems.append(
                f"backup failed at {failure['time'][:19]}Z (exit {failure['exit_code']})"
            )
        if head.drill and not head.drill["passed"]:
            status.problems.append("last drill failed")
        hosts.append(status)
    check_head = heads.get(CHECK_HOST)
    if isinstance(check_head, RefusedHead):
        return FleetStatus(max_age.total_seconds(), hosts, None, check_head.problem)
    return FleetStatus(max_age.total_seconds(), hosts, check_head.check if check_head else None)
