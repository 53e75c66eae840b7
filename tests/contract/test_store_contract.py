"""The Store contract: every backend must pass these (local today; S3 joins with its issue)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drtool.errors import ObjectExists, ObjectMissing, StorageError
from drtool.store import Store, open_store
from drtool.store.local import LocalStore


@pytest.fixture(params=["local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield LocalStore(tmp_path / "repo")


def test_put_then_get(store: Store) -> None:
    size = store.put("objects/ab/abcd", [b"hello ", b"world"])
    assert size == 11
    assert store.get("objects/ab/abcd") == b"hello world"
    assert store.size("objects/ab/abcd") == 11
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
        store.size("objects/00/none")


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


def test_delete(store: Store) -> None:
    store.put("objects/aa/x", [b"."])
    store.delete("objects/aa/x")
    store.delete("objects/aa/x")  # deleting twice is not an error
    assert not store.contains("objects/aa/x")


@pytest.mark.parametrize("name", ["../escape", "/abs", "a//b", "a/../b", ".hidden", "a/b c", ""])
def test_unsafe_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(StorageError, match="invalid object name"):
        store.put(name, [b"x"])


def test_a_failed_write_leaves_nothing(store: Store) -> None:
    def failing() -> Iterator[bytes]:
        yield b"partial"
        raise OSError(28, "No space left on device")

    with pytest.raises(StorageError, match="disk full"):
        store.put("objects/aa/x", failing())
    assert not store.contains("objects/aa/x")
    assert list(store.list("objects")) == []


def test_open_store_by_location(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
