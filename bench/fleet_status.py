"""What `drtool status` costs on a fleet: N hosts in one bucket (moto on 127.0.0.1), each with
a head and several snapshots; status reads the heads and the names of the host folders only,
so its cost follows the number of hosts, not of snapshots.

    python -m bench.fleet_status [--hosts 1000] [--snapshots 5]

Prints one JSON document (seconds, requests) and merges it into bench/results.json as
``fleet_status``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from drtool.fleet_heads import read_heads
from drtool.heads import update_head
from drtool.keys import KdfParameters
from drtool.passphrase import PassphraseSource
from drtool.repository import Repository, init_repository
from drtool.status import fleet_status
from drtool.store.s3 import S3Store

RESULTS = os.path.join(os.path.dirname(__file__), "results.json")


def measure(hosts: int, snapshots: int) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    try:
        address, port = server.get_host_and_port()
        client = boto3.client(
            "s3", endpoint_url=f"http://{address}:{port}", region_name="us-east-1"
        )
        client.create_bucket(Bucket="fleet")
        passphrase = PassphraseSource("bench", lambda _confirm: b"bench passphrase")
        cheap = KdfParameters(iterations=1, lanes=1, memory_kib=8 * 1024)
        init_repository(S3Store("s3://fleet/drtool", client=client), passphrase, cheap)
        writer = Repository.open(S3Store("s3://fleet/drtool", client=client), passphrase)
        moment = datetime.now(UTC) - timedelta(hours=2)

        def fill(index: int) -> None:
            host = f"host-{index:04d}"
            for number in range(snapshots):  # status never opens them; they only have to exist
                snapshot_id = f"{(moment - timedelta(days=number)):%Y%m%dT%H%M%SZ}-{index:08x}"
                client.put_object(
                    Bucket="fleet", Key=f"drtool/snapshots/{host}/{snapshot_id}", Body=b"x"
                )
            snapshot = {
                "id": snapshot_id,
                "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "tags": [],
                "size": 1,
            }
            update_head(writer, host, snapshot=snapshot)

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(fill, range(hosts)))
        store = S3Store("s3://fleet/drtool", client=client)
        reader = Repository.open(store, passphrase)
        opened = store.requests
        started = time.perf_counter()
        now = datetime.now(UTC)
        fleet = fleet_status(read_heads(reader, now), now, timedelta(hours=36))
        seconds = time.perf_counter() - started
        assert len(fleet.hosts) == hosts and all(item.healthy for item in fleet.hosts)
        return {
            "hosts": hosts,
            "snapshots_per_host": snapshots,
            "status_seconds": round(seconds, 2),
            "status_requests": store.requests - opened,
        }
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_status")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--snapshots", type=int, default=5)
    arguments = parser.parse_args()
    figures = measure(arguments.hosts, arguments.snapshots)
    print(json.dumps(figures, indent=2))
    with open(RESULTS) as stream:
        results = json.load(stream)
    results["fleet_status"] = figures
    with open(RESULTS, "w") as stream:
        json.dump(results, stream, indent=2)
        stream.write("\n")


if __name__ == "__main__":
    main()
