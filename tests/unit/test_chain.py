"""The chain of a host's snapshots (drtool/chain.py): what a backup names as previous, what is a
gap, what a tombstone covers. The repository's own files are the oracle for what is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.chain import find_gaps, previous_snapshot, readable_manifests, refuse_gaps
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.errors import IntegrityError, SnapshotsMissing
from drtool.host import Host
from drtool.keys import MasterKey
from drtool.repository import Repository, manifest_name
from drtool.runner import Runner
from drtool.seen import SeenState
from drtool.snapshot import Manifest, SnapshotRef
from drtool.tombstones import read_tombstone, tombstone_name, write_tombstone

SETTINGS = Settings(kinds=("files",), files=("/etc/app.conf",))
NOW = datetime(2025, 2, 1, tzinfo=UTC)


def ref(stamp: str) -> SnapshotRef:
    return SnapshotRef(f"{stamp}-0a1b2c3d", "web-1")


@pytest.fixture
def host(tmp_path: Path) -> Host:
    (tmp_path / "root/etc").mkdir(parents=True)
    (tmp_path / "root/etc/app.conf").write_text("debug = false\n")
    return Host(tmp_path / "root", "web-1", Runner())


def backup(repository: Repository, host: Host) -> Manifest:
    return run_backup(repository, host, collectors_for(SETTINGS))


def stored(repository: Repository) -> list[str]:
    directory = Path(repository.store.location) / "snapshots/web-1"
    return sorted(path.name for path in directory.iterdir())


def test_previous_is_the_newest_listed_or_remembered_never_a_future_one() -> None:
    listed = [ref("20250101T020000Z"), ref("20250102T020000Z"), ref("20300101T000000Z")]
    assert previous_snapshot(listed, None, NOW) == ref("20250102T020000Z").id
    remembered = ref("20250103T020000Z").id  # gone from the listing: named all the same
    assert previous_snapshot(listed, remembered, NOW) == remembered
    assert previous_snapshot(listed, ref("20241231T020000Z").id, NOW) == listed[1].id
    assert previous_snapshot(listed, ref("20300102T000000Z").id, NOW) == listed[1].id
    assert previous_snapshot([], None, NOW) is None


def test_each_backup_names_the_one_before_and_remembers_itself(
    repository: Repository, host: Host
) -> None:
    first = backup(repository, host)
    second = backup(repository, host)
    assert stored(repository) == [first.id, second.id]
    assert (first.previous, second.previous) == (None, first.id)
    seen = SeenState.load(host, repository.repository_id)
    assert seen.newest_of("web-1") == second.id
    repository.store.delete(manifest_name("web-1", second.id))
    third = backup(repository, host)  # the host remembers what it wrote, the listing does not
    assert third.previous == second.id


def test_gaps_and_what_a_tombstone_covers(repository: Repository, host: Host) -> None:
    first, second, third = (backup(repository, host) for _ in range(3))
    repository.store.delete(manifest_name("web-1", second.id))
    listed = repository.snapshot_refs("web-1")
    manifests = readable_manifests(repository, listed, datetime.now(UTC))
    (gap,) = find_gaps(repository, "web-1", listed, manifests, third.id)
    assert (gap.snapshot, gap.named_by) == (second.id, f"snapshot {third.id} names it as previous")
    write_tombstone(repository, SnapshotRef(second.id, "web-1"))
    assert find_gaps(repository, "web-1", listed, manifests, third.id) == []
    # A reader that saw the first, now forgotten, does not need its tombstone: newer ones exist.
    assert find_gaps(repository, "web-1", listed, manifests, first.id) == []


def test_a_tombstone_signed_with_another_key_or_moved_does_not_verify(
    repository: Repository,
) -> None:
    forgotten = SnapshotRef("20250101T020000Z-0a1b2c3d", "web-1")
    write_tombstone(repository, forgotten)
    assert read_tombstone(repository, "web-1", forgotten.id) is not None
    data = repository.store.get(tombstone_name("web-1", forgotten.id))
    repository.store.put(tombstone_name("web-1", "20250102T020000Z-0a1b2c3d"), [data])
    with pytest.raises(IntegrityError, match="does not verify"):
        read_tombstone(repository, "web-1", "20250102T020000Z-0a1b2c3d")
    other = Repository(repository.store, repository.repository_id, MasterKey.from_secret(b"o" * 32))
    with pytest.raises(IntegrityError, match="does not verify"):
        read_tombstone(other, "web-1", forgotten.id)
    document = json.loads(data)
    assert set(document) == {"format", "host", "snapshot", "forgotten", "signature"}


def test_refusal_names_the_gap_in_one_line(repository: Repository, host: Host) -> None:
    backup(repository, host)
    newest = backup(repository, host)
    repository.store.delete(manifest_name("web-1", newest.id))
    seen = SeenState.load(host, repository.repository_id)
    with pytest.raises(SnapshotsMissing) as refused:
        refuse_gaps(repository, "web-1", repository.snapshot_refs(), seen, accept_missing=False)
    assert str(refused.value).count("\n") == 0
    assert f"snapshot {newest.id} of host web-1 is missing (this reader saw it" in str(
        refused.value
    )
    refuse_gaps(repository, "web-1", repository.snapshot_refs(), seen, accept_missing=True)
    assert SeenState.load(host, repository.repository_id).newest_of("web-1") != newest.id
