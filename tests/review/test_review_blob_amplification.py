"""Review of issues 10 and 14: a format-2 artifact is its list blobs' references, and nothing
bounds how often they name one blob. A hostile snapshot (any passphrase holder, or a host's
writer for its own host) makes a small pack stage as much as it likes on every host that
shows, diffs, restores or drills it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from drtool.blob_lists import encode_lists, list_kind
from drtool.blob_reader import read_artifact, stream_limit
from drtool.blobs import blob_id
from drtool.errors import IntegrityError
from drtool.packs import PackWriter, pack_name
from drtool.snapshot import SnapshotRef, new_snapshot_id
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository

BLOB = 1024 * 1024
REPEATS = 64  # 64 MiB staged from a pack of a few KiB; 17,476 per list blob are allowed


def test_a_blob_named_many_times_is_not_staged_past_the_declared_size(cli: Cli) -> None:
    cli("init")
    first = cli("backup").stdout.strip()
    repository = open_repository(cli)
    real = repository.read_manifest(SnapshotRef(first, "web-1"))
    record = next(item for item in real.artifacts if item.kind == "files" and item.present)
    id_key = repository.key.content_id_key("web-1")
    writer = PackWriter(repository.key, repository.repository_id, "web-1")
    zeros = b"\0" * BLOB
    data = writer.add("files", blob_id(id_key, "files", zeros), zeros)
    kind = list_kind("files")
    # One list blob, or several of 16 when the blob's id (keyed per repository) starts below 4.
    lists = tuple(
        writer.add(kind, blob_id(id_key, kind, listing), listing)
        for listing in encode_lists([data] * REPEATS)
    )
    repository.store.put(pack_name(writer.pack_id), [writer.finish()])
    hostile = dataclasses.replace(record, lists=lists)
    snapshot_id = new_snapshot_id(datetime.now(UTC))
    artifacts = tuple(hostile if item is record else item for item in real.artifacts)
    repository.write_manifest(dataclasses.replace(real, id=snapshot_id, artifacts=artifacts))
    refused = cli("show", snapshot_id, expect=14).stderr
    assert "the files stream runs past the" in refused
    staged = 0  # what a reader is handed before the refusal: never a byte past the bound
    with pytest.raises(IntegrityError, match="runs past"):
        for block in read_artifact(repository, "web-1", hostile):
            staged += len(block)
    assert staged <= stream_limit(hostile) < 2 * BLOB
