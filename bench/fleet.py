"""What the fleet's commands cost when many hosts share one bucket: N hosts x M snapshots on a
moto server on 127.0.0.1 (or ``--endpoint radosgw``: the tests' radosgw, started here; or any
S3 endpoint), each command run through drtool's CLI in this process, its S3 requests counted by verb
from botocore's own events (not drtool's counter) and its wall time measured.

    python -m bench.fleet [--hosts 200] [--snapshots 30] [--label after] [--endpoint radosgw|URL]

Each host gets one real backup (one small file of its own, so each host has objects of its
own), copied into M snapshots a day apart (real sealed manifests, so `check` and `restore` read
them as any), a head, and two unreferenced objects per snapshot (what forget leaves for prune).
Prints one JSON document and merges it into bench/results.json under ``fleet.<label>``.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import io
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.heads import record_backup
from drtool.host import Host
from drtool.keys import KdfParameters
from drtool.passphrase import PassphraseSource
from drtool.repository import Repository, init_repository
from drtool.snapshot import new_snapshot_id
from drtool.store.s3 import S3Store
from drtool.timeutil import iso

RESULTS = os.path.join(os.path.dirname(__file__), "results.json")
PASSPHRASE = "bench passphrase"
FILE = "/etc/fleet.conf"
BUCKET = "fleet"
GARBAGE_PER_SNAPSHOT = 2


class RequestCounter:
    """S3 requests by operation, counted by botocore as each is sent (retries included)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def __call__(self, model: Any = None, **_: Any) -> None:
        self.counts[model.name] += 1

    def take(self) -> dict[str, int]:
        counts, self.counts = dict(sorted(self.counts.items())), collections.Counter()
        return counts


@contextmanager
def s3_endpoint(endpoint: str | None, work: Path) -> Iterator[str]:
    """The endpoint given, a radosgw (``radosgw``: the tests' one-OSD cluster) or a moto server
    started here on 127.0.0.1 (stopped at the end)."""
    if endpoint == "radosgw":
        from tests.support.radosgw import ACCESS_KEY, SECRET_KEY, Radosgw

        server = Radosgw(work / "ceph")
        os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        try:
            server.start()
            yield server.endpoint
        finally:
            server.stop()
        return
    if endpoint:
        yield endpoint
        return
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        address, port = server.get_host_and_port()
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
        yield f"http://{address}:{port}"
    finally:
        server.stop()


def populate(client: Any, work: Path, hosts: int, snapshots: int, bucket: str) -> None:
    passphrase = PassphraseSource("bench", lambda _confirm: PASSPHRASE.encode())
    cheap = KdfParameters(iterations=1, lanes=1, memory_kib=8 * 1024)
    init_repository(S3Store(f"s3://{bucket}/drtool", client=client), passphrase, cheap)
    repository = Repository.open(S3Store(f"s3://{bucket}/drtool", client=client), passphrase)
    collectors = collectors_for(Settings(kinds=("files",), files=(FILE,)))
    now = datetime.now(UTC)

    def fill(index: int) -> None:
        host = f"host-{index:04d}"
        root = work / "roots" / host
        (root / "etc").mkdir(parents=True)
        (root / FILE.lstrip("/")).write_text(f"host = {host}\n" + "setting = 1\n" * 200)
        manifest = run_backup(repository, Host(root, host), collectors, now=now)
        for night in range(1, snapshots):
            moment = now - timedelta(days=night)
            copy = dataclasses.replace(manifest, id=new_snapshot_id(moment), time=iso(moment))
            repository.write_manifest(copy)
        record_backup(repository, manifest)
        for _ in range(GARBAGE_PER_SNAPSHOT * snapshots):
            garbage = secrets.token_hex(32)
            client.put_object(
                Bucket=bucket, Key=f"drtool/objects/{garbage[:2]}/{garbage}", Body=b"forgotten"
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(fill, range(hosts)))


def run_cli(arguments: list[str]) -> tuple[int, str]:
    """Run ``drtool ARGUMENTS`` in this process; return its exit status and its output."""
    from drtool.cli.app import run

    output = io.StringIO()
    saved = sys.argv
    sys.argv = ["drtool", *arguments]
    try:
        with redirect_stdout(output), redirect_stderr(output):
            run()
    except SystemExit as ending:
        return int(ending.code or 0), output.getvalue()
    finally:
        sys.argv = saved
    return 0, output.getvalue()


Command = tuple[str, list[str], Callable[[str], bool]]


def commands(hosts: int, snapshots: int, work: Path) -> list[Command]:
    """(label, drtool arguments, a check of the output) for each command measured."""
    host = f"host-{hosts // 2:04d}"
    day = (datetime.now(UTC) - timedelta(days=min(3, snapshots - 1))).strftime("%Y%m%d")
    restore = ["--host", host, "restore", "--only", "files", "--yes"]
    return [
        ("restore latest", [*restore, "--target", str(work / "t1"), "latest"], lambda _: True),
        ("restore --date", [*restore, "--target", str(work / "t2"), "--date", day], lambda _: True),
        ("snapshots --host H", ["--host", host, "snapshots", "--json"], lambda out: host in out),
        ("snapshots (all hosts)", ["snapshots", "--json"], lambda out: "host-0000" in out),
        ("snapshots (all hosts, again)", ["snapshots", "--json"], lambda out: "host-0000" in out),
        ("status", ["status", "--json"], lambda out: host in out),
        (
            "forget (one host)",
            ["--host", host, "forget", "--keep-last", "7", "--json"],
            lambda out: host in out,
        ),
        ("check", ["check"], lambda _: True),
        ("prune", ["prune", "--grace-minutes", "0"], lambda _: True),
    ]


def measure(hosts: int, snapshots: int, endpoint: str | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="drtool-bench-fleet-"))
    counter = RequestCounter()
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-call.s3", counter)
    try:
        with s3_endpoint(endpoint, work) as url:
            bucket = f"{BUCKET}-{secrets.token_hex(4)}"
            client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
            client.create_bucket(Bucket=bucket)
            started = time.perf_counter()
            populate(client, work, hosts, snapshots, bucket)
            filled = time.perf_counter() - started
            config = work / "drtool.toml"
            config.write_text(f'[backup]\nkinds = ["files"]\n[files]\npaths = ["{FILE}"]\n')
            os.environ.update(
                DRTOOL_REPO=f"s3://{bucket}/drtool",
                DRTOOL_PASSWORD=PASSPHRASE,
                DRTOOL_CONFIG=str(config),
                DRTOOL_ROOT=str(work / "roots" / "host-0000"),
                AWS_ENDPOINT_URL=url,
                AWS_DEFAULT_REGION="us-east-1",
            )
            counter.take()
            figures: dict[str, Any] = {}
            for label, arguments, looks_right in commands(hosts, snapshots, work):
                started = time.perf_counter()
                status, output = run_cli(arguments)
                seconds = time.perf_counter() - started
                if status != 0 or not looks_right(output):
                    raise SystemExit(f"{label}: exit {status}\n{output[-2000:]}")
                counts = counter.take()
                figures[label] = {
                    "seconds": round(seconds, 2),
                    "requests": sum(counts.values()),
                    "by_verb": counts,
                }
                print(f"{label}: {figures[label]}", file=sys.stderr)
            return {
                "hosts": hosts,
                "snapshots_per_host": snapshots,
                "server": "moto" if endpoint is None else endpoint,
                "populate_seconds": round(filled, 1),
                "commands": figures,
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet")
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--snapshots", type=int, default=30)
    parser.add_argument("--label", default="after", help="key under results.json's fleet")
    parser.add_argument(
        "--endpoint", help="an S3 endpoint, or radosgw to start one (default: moto on 127.0.0.1)"
    )
    arguments = parser.parse_args()
    figures = measure(arguments.hosts, arguments.snapshots, arguments.endpoint)
    print(json.dumps(figures, indent=2))
    with open(RESULTS) as stream:
        results = json.load(stream)
    results.setdefault("fleet", {})[arguments.label] = figures
    with open(RESULTS, "w") as stream:
        json.dump(results, stream, indent=2)
        stream.write("\n")


if __name__ == "__main__":
    main()
