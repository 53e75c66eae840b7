"""A fleet in one bucket, built cheaply: one real backup per host (a small file of its own),
copied into older snapshots a day apart (real sealed manifests), and S3 requests counted by
verb from botocore's own events."""

from __future__ import annotations

import collections
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.heads import record_backup
from drtool.host import Host
from drtool.repository import Repository
from drtool.snapshot import new_snapshot_id
from drtool.timeutil import iso

FILE = "/etc/fleet.conf"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # the newest backup


class Requests:
    """S3 requests by operation name, counted as botocore sends them."""

    def __init__(self, client: Any) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        client.meta.events.register("before-call.s3", self._count)

    def _count(self, model: Any = None, **_: Any) -> None:
        self.counts[model.name] += 1

    def take(self) -> dict[str, int]:
        counts, self.counts = dict(self.counts), collections.Counter()
        return counts


def add_host(repository: Repository, work: Path, host: str, snapshots: int) -> None:
    """``host`` with ``snapshots`` snapshots, the newest at NOW, one a day before."""
    root = work / host
    (root / "etc").mkdir(parents=True)
    (root / FILE.lstrip("/")).write_text(f"host = {host}\n")
    collectors = collectors_for(Settings(kinds=("files",), files=(FILE,)))
    manifest = run_backup(repository, Host(root, host), collectors, now=NOW)
    for night in range(1, snapshots):
        moment = NOW - timedelta(days=night)
        copy = dataclasses.replace(manifest, id=new_snapshot_id(moment), time=iso(moment))
        repository.write_manifest(copy)
    record_backup(repository, manifest)
