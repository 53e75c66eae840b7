"""The Store contract: every backend must pass these (local today; S3 joins with its issue)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from drtool.errors import ObjectExists, ObjectMissing, StorageError
from drtool.store import Store, open_store
from drtool.store.local import LocalStore
from drtool.store.s3 import S3Store
from tests.support.s3 import TEST_OPTIONS, new_bucket


@pytest.fixture(params=["local", "moto", "moto-locked", "radosgw", "radosgw-locked"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every backend, and on S3 both a plain bucket and a versioned Object Lock one."""
    if request.param == "local":
        yield LocalStore(tmp_path / "repo")
        return
    server, _, locked = request.param.partition("-")
    client = request.getfixturevalue(f"{server}_client")
    bucket = new_bucket(client, locked=bool(locked))
    yield S3Store(f"s3://{bucket}/team/drtool", TEST_OPTIONS, client=client)


def test_put_then_get(store: Store) -> None:
    size = store.put("objects/ab/abcd", [b"hello ", b"world"])
    assert size == 11
    assert store.get("objects/ab/abcd") == b"hello world"
    assert store.stat("objects/ab/abcd").size == 11
    assert store.contains("objects/ab/abcd")


def test_put_replaces(store: Store) -> None:
    store.put("snapshots/h/1", [b"one"])
    store.put("snapshots/h/1", [b"two"])
    assert store.get("snapshots/h/1") == b"two"


def test_open_streams(store: Store) -> None:
    store.put("objects/aa/big", [b"x" * 100_000])
    with store.open("objects/aa/big") as stream:
        assert stream.read(10) == b"x" * 10
        assert len(stream.read()) == 99_990


def test_missing(store: Store) -> None:
    assert not store.contains("objects/00/none")
    with pytest.raises(ObjectMissing):
        store.get("objects/00/none")
    with pytest.raises(ObjectMissing):
        store.stat("objects/00/none")


def test_put_new_refuses_an_existing_name(store: Store) -> None:
    store.put_new("locks/prune", b"first")
    with pytest.raises(ObjectExists):
        store.put_new("locks/prune", b"second")
    assert store.get("locks/prune") == b"first"


def test_list_is_sorted_and_scoped(store: Store) -> None:
    for name in ["snapshots/b/2", "snapshots/a/1", "snapshots/b/1", "objects/aa/x"]:
        store.put(name, [b"."])
    assert list(store.list("snapshots")) == ["snapshots/a/1", "snapshots/b/1", "snapshots/b/2"]
    assert list(store.list("snapshots/b")) == ["snapshots/b/1", "snapshots/b/2"]
    assert list(store.list("keys")) == []


def test_list_folders_names_those_that_hold_an_object(store: Store) -> None:
    for name in [
        "snapshots/b/2",
        "snapshots/a.1/x/y",
        "snapshots/b/1",
        "snapshots/c",
        "objects/d/x",
    ]:
        store.put(name, [b"."])
    store.put("snapshots/gone/1", [b"."])
    store.delete("snapshots/gone/1")  # a local directory stays behind, empty: not a folder
    assert list(store.list_folders("snapshots")) == ["a.1", "b"]
    assert list(store.list_folders("keys")) == []


def test_delete(store: Store) -> None:
    store.put("objects/aa/x", [b"."])
    store.delete("objects/aa/x")
    store.delete("objects/aa/x")  # deleting twice is not an error
    assert not store.contains("objects/aa/x")


@pytest.mark.parametrize("name", ["../escape", "/abs", "a//b", "a/../b", ".hidden", "a/b c", ""])
def test_unsafe_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(StorageError, match="invalid object name"):
        store.put(name, [b"x"])


@pytest.mark.parametrize("produced", [7, 11 * 1024 * 1024], ids=["small", "multipart"])
def test_a_failed_producer_leaves_nothing(store: Store, produced: int) -> None:
    def failing() -> Iterator[bytes]:
        yield b"x" * produced
        raise RuntimeError("the producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        store.put("objects/aa/x", failing())
    assert not store.contains("objects/aa/x")
    assert list(store.list("objects")) == []
    if isinstance(store, S3Store):
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert uploads == [], "a failed multipart upload is aborted"


def test_large_objects_round_trip(store: Store) -> None:
    data = os.urandom(12 * 1024 * 1024 + 5)
    assert store.put("objects/bb/large", [data[: 3 * 1024 * 1024], data[3 * 1024 * 1024 :]]) == (
        len(data)
    )
    with store.open("objects/bb/large") as stream:
        assert stream.read() == data


def test_local_disk_full_is_a_storage_error(tmp_path: Path) -> None:
    def failing() -> Iterator[bytes]:
        yield b"partial"
        raise OSError(28, "No space left on device")

    store = LocalStore(tmp_path / "repo")
    with pytest.raises(StorageError, match="disk full"):
        store.put("objects/aa/x", failing())
    assert list(store.list("objects")) == []


def test_open_store_by_location(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)


def test_list_info_tells_size_and_time_in_the_order_of_names(store: Store) -> None:
    names = ["snapshots/a-b/1", "snapshots/a/1", "snapshots/a/2", "snapshots/a.b/1"]
    for size, name in enumerate(names, start=1):
        store.put(name, [b"x" * size])
    listed = list(store.list_info("snapshots"))
    assert [item.name for item in listed] == sorted(names)
    assert [item.name for item in listed] == list(store.list("snapshots"))
    for item in listed:
        info = store.stat(item.name)
        assert (item.size, item.modified.replace(microsecond=0)) == (
            info.size,
            info.modified.replace(microsecond=0),
        )
    assert list(store.list_info("keys")) == []


def test_list_info_of_no_prefix_lists_the_whole_repository(store: Store) -> None:
    names = ["config", "packs/ab/ab01", "snapshots/a/1", "writers/0f"]
    for name in reversed(names):
        store.put(name, [name.encode()])
    listed = list(store.list_info(""))
    assert [(item.name, item.size) for item in listed] == [(name, len(name)) for name in names]


def test_delete_many(store: Store) -> None:
    names = [f"objects/{index % 3:02x}/{index:04x}" for index in range(12)]
    for name in names:
        store.put(name, [b"."])
    assert store.delete_many([*names[:10], "objects/ff/never-there"]) == []
    assert list(store.list("objects")) == sorted(names[10:])
    assert store.delete_many([]) == []
