"""Prometheus textfile metrics (node_exporter's textfile collector) for backups and drills: the
"last success" figures restic and borg never grew (restic #1878).

Each run overwrites its file atomically. A failed run keeps the last success time of the run
before it, read back from the file, so an alert on its age fires however many runs fail.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from drtool.fsutil import write_atomically


def write_textfile(
    path: Path, job: str, host: str, success: bool, values: dict[str, tuple[str, float]]
) -> None:
    """Write ``drtool_<job>_*`` metrics for ``host``: success, last run and last success times,
    and ``values`` (name -> (help, value))."""
    now = time.time()
    metric = f"drtool_{job}_last_success_timestamp_seconds"
    last_success = now if success else _previous(path, metric)
    metrics = {
        "success": ("Whether the last run succeeded.", float(success)),
        "last_run_timestamp_seconds": ("When the last run ended.", now),
        **values,
    }
    if last_success is not None:
        metrics["last_success_timestamp_seconds"] = ("When the last success ended.", last_success)
    lines = []
    for name, (help_text, value) in metrics.items():
        lines += [
            f"# HELP drtool_{job}_{name} {help_text}",
            f"# TYPE drtool_{job}_{name} gauge",
            f'drtool_{job}_{name}{{host="{host}"}} {float(value)!r}',
        ]
    write_atomically(path, ("\n".join(lines) + "\n").encode(), mode=0o644)


def _previous(path: Path, metric: str) -> float | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    found = re.search(rf"^{metric}{{[^}}]*}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None
