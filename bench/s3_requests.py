"""How many S3 requests a backup, an unchanged backup and a restore of the typical host cost,
counted by drtool's S3 store against a moto server on 127.0.0.1: the backups as a nightly host
makes them (writer credential, head record), the restore with the passphrase."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from bench.dataset import SHAPES, generate, load_firewall
from drtool.backup import run_backup
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.heads import record_backup
from drtool.host import Host
from drtool.keyring.credential import read_credential, write_credential
from drtool.keyring.manage import add_writer
from drtool.passphrase import PassphraseSource
from drtool.repository import Repository, init_repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from drtool.snapshot import Manifest
from drtool.store.s3 import S3Store
from drtool.writer_stamps import open_for_backup

KINDS = ("wireguard", "nginx", "iptables", "fail2ban", "files")


def count_requests() -> dict[str, int]:
    """The requests of a backup, an unchanged backup and a restore of a new repository."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    work = Path(tempfile.mkdtemp(prefix="drtool-bench-s3-"))
    netns = f"drtool-bench-{secrets.token_hex(3)}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        host_address, port = server.get_host_and_port()
        client = boto3.client(
            "s3", endpoint_url=f"http://{host_address}:{port}", region_name="us-east-1"
        )
        client.create_bucket(Bucket="bench")
        root = work / "root"
        generate(SHAPES["typical"], root)
        load_firewall(netns, root)
        settings = Settings(kinds=KINDS, files=("/var/lib/bench-dumps/docker-networks.json",))
        host = Host(root, "bench", Runner(netns=netns))
        passphrase = PassphraseSource("bench", lambda _confirm: b"bench passphrase")

        def store() -> S3Store:
            return S3Store("s3://bench/drtool", client=client)

        def opened(store: S3Store) -> Repository:
            return Repository.open(store, passphrase)

        init_repository(store(), passphrase)
        # The README's nightly set-up: the host backs up with a writer credential (--key-file),
        # as `drtool backup` does (its head record included).
        _, credential_bytes = add_writer(opened(store()), "bench", "bench")
        write_credential(work / "writer.key", credential_bytes)
        credential = read_credential(work / "writer.key")

        def backup(counted: S3Store) -> Manifest:
            repository = open_for_backup(counted, credential, host)
            manifest = run_backup(repository, host, collectors_for(settings))
            record_backup(repository, manifest)
            return manifest

        first = store()
        backup(first)
        unchanged = store()
        manifest = backup(unchanged)
        restoring = store()
        repository = opened(restoring)
        target = Host(work / "restored", "bench", services=False)
        restore_snapshot(
            repository,
            repository.read_manifest(
                next(ref for ref in repository.snapshot_refs() if ref.id == manifest.id)
            ),
            target,
            collectors_for(settings),
        )
        return {
            "first_backup": first.requests,
            "unchanged_backup": unchanged.requests,
            "restore": restoring.requests,
            "kinds": len(KINDS),
        }
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(work, ignore_errors=True)
