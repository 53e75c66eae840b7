"""A fleet in one bucket, requests counted by verb (botocore's own events, not drtool's
counter): one host's commands cost the same however many other hosts and snapshots share the
bucket; check and prune send no request per object (the listing answers) and delete in
batches. On radosgw: batch deletes under Object Lock, and a lock refreshed while held."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drtool.check import check_repository
from drtool.errors import RepositoryLocked
from drtool.fleet_heads import read_heads
from drtool.forget import KeepPolicy, forget
from drtool.heads import HostHead
from drtool.lock import LOCK_NAME, exclusive_lock
from drtool.manifests import find_snapshot
from drtool.parts import object_ids, object_name
from drtool.prune import prune
from drtool.repository import Repository, init_repository
from drtool.snapshot_index import fleet_summaries
from drtool.store.s3 import S3Store
from drtool.timeutil import iso
from tests.conftest import FAST_KDF, FORMAT1_FIXTURE, fixed_passphrase
from tests.support.fleet import NOW, Requests, add_host
from tests.support.s3 import TEST_OPTIONS, new_bucket


@pytest.fixture
def bucket(moto_client: object) -> tuple[object, str]:
    name = new_bucket(moto_client)
    init_repository(store_on(moto_client, name), fixed_passphrase(), FAST_KDF)
    return moto_client, name


@pytest.fixture
def format1_bucket(moto_client: object) -> tuple[object, str]:
    """A bucket holding an empty repository of format 1 (its objects are one per part): the
    config and key file format-1 drtool wrote (tests/data/format1)."""
    name = new_bucket(moto_client)
    for path in (
        FORMAT1_FIXTURE / "repository" / "config",
        FORMAT1_FIXTURE / "repository" / "keys",
    ):
        for item in [path] if path.is_file() else path.iterdir():
            key = item.relative_to(FORMAT1_FIXTURE / "repository").as_posix()
            moto_client.put_object(Bucket=name, Key=f"drtool/{key}", Body=item.read_bytes())
    return moto_client, name


def store_on(client: object, bucket: str) -> S3Store:
    return S3Store(f"s3://{bucket}/drtool", TEST_OPTIONS, client=client)


def one_hosts_commands(repository: Repository) -> dict[str, Callable[[], object]]:
    day = (NOW - timedelta(days=1)).strftime("%Y%m%d")
    return {
        "restore latest": lambda: find_snapshot(repository, None, None, "web-1"),
        "restore --date": lambda: find_snapshot(repository, None, day, "web-1"),
        "--host H snapshots": lambda: repository.snapshot_refs("web-1"),
        "forget (one host)": lambda: forget(repository, KeepPolicy(last=1), "web-1", True),
    }


def web_and_db(
    bucket: tuple[object, str], tmp_path: Path, web_snapshots: int
) -> tuple[object, Repository]:
    """The bucket's client and repository, holding web-1 (``web_snapshots`` a day apart) and
    db-1 (two)."""
    client, name = bucket
    repository = Repository.open(store_on(client, name), fixed_passphrase())
    add_host(repository, tmp_path, "web-1", web_snapshots)
    add_host(repository, tmp_path, "db-1", 2)
    return client, repository


def test_one_hosts_commands_do_not_grow_with_the_fleet(
    bucket: tuple[object, str], tmp_path: Path
) -> None:
    client, repository = web_and_db(bucket, tmp_path, 3)
    requests = Requests(client)

    def costs() -> dict[str, dict[str, int]]:
        measured = {}
        for label, command in one_hosts_commands(repository).items():
            command()
            measured[label] = requests.take()
        return measured

    small = costs()
    assert small["restore latest"] == {"ListObjectsV2": 1, "GetObject": 1}
    for index in range(6):  # hosts sorting before and after web-1, with more snapshots
        add_host(repository, tmp_path, f"{'ab'[index % 2]}-{index}", 4)
    requests.take()
    assert costs() == small


def test_status_requests_grow_with_hosts_not_with_snapshots(
    bucket: tuple[object, str], tmp_path: Path
) -> None:
    """Two listings (heads/, and snapshots/ with a delimiter) and one GET per host."""
    client, repository = web_and_db(bucket, tmp_path, 2)
    requests = Requests(client)

    def cost() -> dict[str, int]:
        heads = read_heads(repository, datetime.now(UTC))
        assert all(isinstance(head, HostHead) for head in heads.values()), heads
        return requests.take()

    assert cost() == {"ListObjectsV2": 2, "GetObject": 2}
    add_host(repository, tmp_path / "again", "web-1", 6)
    requests.take()
    assert cost() == {"ListObjectsV2": 2, "GetObject": 2}
    add_host(repository, tmp_path, "web-2", 1)
    requests.take()
    assert cost() == {"ListObjectsV2": 2, "GetObject": 3}


def test_the_hosts_folders_are_listed_a_thousand_a_request(moto_client: object) -> None:
    name = new_bucket(moto_client)
    store = store_on(moto_client, name)
    hosts = [f"host-{index:04d}" for index in range(1001)]
    for host in hosts:
        for snapshot in ("20250107T021500Z-3fa2c1d0", "20250108T021500Z-3fa2c1d0"):
            moto_client.put_object(
                Bucket=name, Key=f"drtool/snapshots/{host}/{snapshot}", Body=b"x"
            )
    moto_client.put_object(Bucket=name, Key="drtool/snapshots/not-a-folder", Body=b"x")
    requests = Requests(moto_client)
    assert list(store.list_folders("snapshots")) == hosts
    assert requests.take() == {"ListObjectsV2": 2}


def test_forget_deletes_a_hosts_snapshots_in_one_batch_each_after_its_tombstone(
    bucket: tuple[object, str], tmp_path: Path
) -> None:
    client, repository = web_and_db(bucket, tmp_path, 6)
    before = sorted(repository.store.list("snapshots/web-1/"))
    requests = Requests(client)

    forget(repository, KeepPolicy(last=1), "web-1")

    assert requests.take() == {"ListObjectsV2": 1, "PutObject": 5, "DeleteObjects": 1}
    assert sorted(repository.store.list("snapshots/web-1/")) == before[-1:]
    assert sorted(repository.store.list("forgotten/web-1/")) == [
        item.replace("snapshots/", "forgotten/", 1) for item in before[:-1]
    ]
    assert len(list(repository.store.list("snapshots/db-1/"))) == 2


def test_check_and_prune_send_no_request_per_object_and_delete_in_batches(
    format1_bucket: tuple[object, str], tmp_path: Path
) -> None:
    """On format 1's objects (format 2's packs: tests/integration/test_packs_s3.py)."""
    client, name = format1_bucket
    passphrase = fixed_passphrase("format one fixture")
    repository = Repository.open(store_on(client, name), passphrase)
    for host in ("web-1", "web-2", "db-1"):
        add_host(repository, tmp_path, host, 3)
    forgotten = [f"{index:064x}" for index in range(1001)]
    for object_id in forgotten:
        client.put_object(Bucket=name, Key=f"drtool/{object_name(object_id)}", Body=b"gone")
    referenced = [object_id for object_id in object_ids(repository) if object_id not in forgotten]
    client.delete_object(Bucket=name, Key=f"drtool/{object_name(referenced[0])}")
    requests = Requests(client)
    listing = repository.store.list_info("objects")
    next(listing)
    assert requests.take() == {"ListObjectsV2": 1}, "streamed: one page of 1,000 at a time"
    listing.close()

    report = check_repository(repository)
    assert report.snapshots == 9 and report.objects_unreferenced == 1001
    [problem] = report.problems  # the listing tells which referenced object is missing
    missing = rf"snapshot [a-z0-9-]+/\S+: object {referenced[0][:16]} \(files\) is missing"
    assert re.fullmatch(missing, problem)
    counts = requests.take()
    assert set(counts) == {"ListObjectsV2", "GetObject"}, "no HEAD per object"
    assert counts["GetObject"] == 9

    report = prune(repository, grace=timedelta(0), now=datetime.now(UTC) + timedelta(minutes=1))
    assert (report.deleted, report.locked, report.young) == (1001, 0, 0)
    counts = requests.take()
    assert counts.get("HeadObject", 0) == 0 and counts.get("DeleteObject", 0) == 0
    assert counts["DeleteObjects"] == 2, "1,001 objects: two batches of up to 1,000"
    assert not set(forgotten) & set(object_ids(repository))


@pytest.mark.parametrize(
    ("planted", "listing", "message"),
    [
        (
            "snapshots/web-1/not-a-snapshot",
            lambda repository: find_snapshot(repository, None, None, "web-1"),
            "not a snapshot's name",
        ),
        (
            "snapshots/we b?/20250107T021500Z-3fa2c1d0",
            lambda repository: listed_summaries(repository),
            "which is not a host's folder",
        ),
    ],
    ids=["a-hosts-listing", "the-fleets-listing"],
)
def test_a_name_not_a_snapshots_or_a_hosts_is_refused_by_the_listing(
    bucket: tuple[object, str],
    tmp_path: Path,
    planted: str,
    listing: Callable[[Repository], object],
    message: str,
) -> None:
    client, name = bucket
    repository = Repository.open(store_on(client, name), fixed_passphrase())
    add_host(repository, tmp_path, "web-1", 1)
    client.put_object(Bucket=name, Key=f"drtool/{planted}", Body=b"x")
    requests = Requests(client)
    with pytest.raises(Exception, match=message) as refused:
        listing(repository)
    assert refused.value.exit_code == 14  # type: ignore[attr-defined]
    assert requests.take() == {"ListObjectsV2": 1}, "refused before any object is read"


@pytest.mark.real_parts("radosgw")
def test_batch_deletes_on_radosgw_keep_what_object_lock_retains(radosgw_client: object) -> None:
    plain = store_on(radosgw_client, new_bucket(radosgw_client))
    locked = store_on(radosgw_client, new_bucket(radosgw_client, locked=True))
    until = datetime.now(UTC) + timedelta(days=1)
    for store in (plain, locked):
        for index in range(5):
            store.put(f"objects/aa/{index:04x}", [b"x"])
    locked.put("objects/bb/kept", [b"x"], retain_until=until)
    names = [f"objects/aa/{index:04x}" for index in range(5)]
    assert plain.delete_many(names) == []
    assert list(plain.list("objects")) == []
    assert locked.delete_many(["objects/bb/kept", *names]) == ["objects/bb/kept"]
    assert list(locked.list("objects")) == ["objects/bb/kept"]


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.mark.real_parts("radosgw")
def test_a_held_lock_is_refreshed_on_radosgw(radosgw_client: object) -> None:
    store = store_on(radosgw_client, new_bucket(radosgw_client, locked=True))
    clock = Clock(NOW)
    with exclusive_lock(store, "prune", "admin", clock=clock, refresh_every=timedelta(0)):
        clock.moment = NOW + timedelta(hours=5)  # five hours into a prune of the fleet
        deadline = time.monotonic() + 60  # liveness bound on a loaded machine, not a timing
        refreshed = iso(clock.moment).encode()
        while refreshed not in store.get(LOCK_NAME):
            assert time.monotonic() < deadline, "the lock was never refreshed"
            time.sleep(0.05)
        with pytest.raises(RepositoryLocked), exclusive_lock(store, "prune", "other", clock=clock):
            pass
    assert not store.contains(LOCK_NAME)


def listed_summaries(repository: Repository, latest: int | None = None) -> dict[str, list]:
    """What `drtool snapshots` shows, by host."""
    return fleet_summaries(repository, repository.snapshot_hosts(), latest)


def manifest_summaries(repository: Repository) -> dict[str, list]:
    """The oracle: every manifest of one listing of the whole repository read one by one."""
    by_host: dict[str, list] = {}
    for ref in repository.snapshot_refs():
        by_host.setdefault(ref.host, []).append(repository.read_manifest(ref).summary())
    return dict(sorted(by_host.items()))


def test_listing_the_fleet_reads_one_index_per_host_once_warm(
    bucket: tuple[object, str], tmp_path: Path
) -> None:
    client, name = bucket
    repository = Repository.open(store_on(client, name), fixed_passphrase())
    for host in ("web-1", "web-2", "db-1"):
        add_host(repository, tmp_path, host, 4)
    requests = Requests(client)
    assert listed_summaries(repository, latest=2) == {
        host: items[-2:] for host, items in manifest_summaries(repository).items()
    }
    assert listed_summaries(repository) == manifest_summaries(repository)
    requests.take()
    listed = listed_summaries(repository)
    warm = {"ListObjectsV2": 1 + 3, "GetObject": 3}
    assert requests.take() == warm, "the folders, then one listing and one GET per host, warm"
    assert listed == manifest_summaries(repository)

    add_host(repository, tmp_path / "more", "web-1", 5)  # more snapshots, as many hosts
    listed_summaries(repository)
    requests.take()
    listed = listed_summaries(repository)
    assert requests.take() == warm, "the requests follow the hosts, not their snapshots"
    assert listed == manifest_summaries(repository)

    forget(repository, KeepPolicy(last=1), "web-2")  # the index keeps gone snapshots
    add_host(repository, tmp_path / "again", "db-1", 1)  # a backup the index lacks
    requests.take()
    listed = listed_summaries(repository)
    counts = requests.take()
    assert listed == manifest_summaries(repository)
    assert counts["GetObject"] == 3 + 1, "three indexes and the new manifest"
    assert counts["PutObject"] == 2, "the indexes of db-1 and web-2 rewritten"


def test_a_hostile_or_damaged_index_is_ignored(bucket: tuple[object, str], tmp_path: Path) -> None:
    client, name = bucket
    repository = Repository.open(store_on(client, name), fixed_passphrase())
    add_host(repository, tmp_path, "web-1", 2)
    add_host(repository, tmp_path, "web-2", 2)
    listed_summaries(repository)
    index = client.get_object(Bucket=name, Key="drtool/index/web-2")["Body"].read()
    client.put_object(Bucket=name, Key="drtool/index/web-1", Body=index)  # another host's
    client.put_object(Bucket=name, Key="drtool/index/web-2", Body=index[:-1])  # damaged
    assert listed_summaries(repository) == manifest_summaries(repository)
