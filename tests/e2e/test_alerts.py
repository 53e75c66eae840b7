"""The alert rules of schedules/ as Prometheus reads them (promtool, Debian's prometheus), and
the drift metric they alert on, written by `drtool diff latest --metrics` as schedules run it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from drtool.errors import ExitCode
from tests.conftest import Cli

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"


def promtool(*arguments: str, stdin: str | None = None) -> str:
    completed = subprocess.run(
        ["promtool", *arguments],
        cwd=SCHEDULES,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_the_alert_rules_load_and_fire_when_they_should() -> None:
    assert "SUCCESS: 7 rules found" in promtool("check", "rules", "drtool-alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "drtool-alerts.test.yml")


def drift(metrics: Path) -> dict[str, float]:
    promtool("check", "metrics", stdin=metrics.read_text())
    found = re.findall(
        r'^drtool_drift\{host="web-1",kind="(\w+)"\} (\S+)$', metrics.read_text(), re.M
    )
    return {kind: float(value) for kind, value in found}


def test_drift_is_measured_per_kind(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    metrics = tmp_path / "drift.prom"
    cli("diff", "latest", "--metrics", str(metrics))
    assert drift(metrics) == {"fail2ban": 0.0, "files": 0.0, "nginx": 0.0, "wireguard": 0.0}
    assert "drtool_drift_last_run_timestamp_seconds" in metrics.read_text()
    site = Path(cli.environment["DRTOOL_ROOT"], "etc/nginx/nginx.conf")
    site.write_text(site.read_text() + "# an edit outside change control\n")
    # diff exits non-zero when it finds differences (ExitCode.DIFFERENCES, where it exists).
    differs = getattr(ExitCode, "DIFFERENCES", 0)
    completed = cli("diff", "latest", "--metrics", str(metrics), expect=differs, one_line=False)
    assert "nginx" in completed.stdout
    assert drift(metrics) == {"fail2ban": 0.0, "files": 0.0, "nginx": 1.0, "wireguard": 0.0}
