"""backup --metrics: the Prometheus textfile a node_exporter reads, and what a failure keeps."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Cli


def value(text: str, metric: str) -> float:
    found = re.search(rf'^{metric}{{host="web-1"}} (\S+)$', text, re.M)
    assert found, f"{metric} missing from:\n{text}"
    return float(found.group(1))


def test_a_failed_backup_keeps_the_last_success_time(cli: Cli, tmp_path: Path) -> None:
    metrics = tmp_path / "drtool-backup.prom"
    cli("init")
    cli("backup", "--metrics", str(metrics))
    good = metrics.read_text()
    assert value(good, "drtool_backup_success") == 1
    assert value(good, "drtool_backup_bytes") > 0
    assert value(good, "drtool_backup_duration_seconds") > 0
    assert metrics.stat().st_mode & 0o777 == 0o644

    Path(cli.environment["DRTOOL_PASSWORD_FILE"]).write_text("not the passphrase\n")
    cli("backup", "--metrics", str(metrics), expect=12)
    failed = metrics.read_text()
    assert value(failed, "drtool_backup_success") == 0
    assert value(failed, "drtool_backup_last_success_timestamp_seconds") == value(
        good, "drtool_backup_last_success_timestamp_seconds"
    )
    assert value(failed, "drtool_backup_last_run_timestamp_seconds") > value(
        good, "drtool_backup_last_run_timestamp_seconds"
    )
