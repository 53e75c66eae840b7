"""Drift: whether the live host still matches its latest snapshot, as Prometheus textfile
metrics, so that an edit made outside change control raises an alert the next night.

``drtool_drift{host,kind}`` is 1 for each kind that differs from the snapshot, 0 for each that
matches; ``drtool_drift_last_run_timestamp_seconds`` says when it was measured (an alert on its
age catches a check that stopped running).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from drtool.fsutil import write_atomically


def write_drift_metrics(
    path: Path, host: str, kinds: Iterable[str], changes: Mapping[str, Any]
) -> None:
    """Write the drift of each of ``kinds`` (changed: a key of ``changes``) to ``path``."""
    lines = [
        "# HELP drtool_drift Whether a kind differs from the latest snapshot (1) or not (0).",
        "# TYPE drtool_drift gauge",
        *(
            f'drtool_drift{{host="{host}",kind="{kind}"}} {1.0 if kind in changes else 0.0!r}'
            for kind in kinds
        ),
        "# HELP drtool_drift_last_run_timestamp_seconds When drift was last measured.",
        "# TYPE drtool_drift_last_run_timestamp_seconds gauge",
        f'drtool_drift_last_run_timestamp_seconds{{host="{host}"}} {time.time()!r}',
    ]
    write_atomically(path, ("\n".join(lines) + "\n").encode(), mode=0o644)
