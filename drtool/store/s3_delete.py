"""Batch deletes on S3: DeleteObjects, up to 1,000 keys (or versions) a request."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from drtool.errors import StorageError
from drtool.parallel import bounded_map

if TYPE_CHECKING:
    from drtool.store.s3 import S3Store

BATCH = 1000  # the most keys one DeleteObjects request takes


def delete_in_batches(store: S3Store, names: Iterable[str]) -> list[str]:
    """Remove every one of ``names`` (every version on a versioned bucket, whose versions are
    looked up 16 names at a time, as ``delete`` does one); return those a retention kept."""
    locked: list[str] = []
    batch: list[dict[str, str]] = []
    for entries in _targets(store, names):
        batch += entries
        if len(batch) >= BATCH:
            locked += _delete_objects(store, batch[:BATCH])
            del batch[:BATCH]
    while batch:
        locked += _delete_objects(store, batch[:BATCH])
        del batch[:BATCH]
    return list(dict.fromkeys(locked))


def _targets(store: S3Store, names: Iterable[str]) -> Iterator[list[dict[str, str]]]:
    """What DeleteObjects must name for each of ``names``: its key, or each of its versions."""
    if not store.is_versioned():
        return ([{"Key": store._key(name)}] for name in names)

    def versions(name: str) -> list[dict[str, str]]:
        key = store._key(name)
        return [
            {"Key": key, "VersionId": item["VersionId"]}
            for item in store.versions(name, key, markers=True)
        ]

    return bounded_map(versions, names)


def _delete_objects(store: S3Store, batch: list[dict[str, str]]) -> list[str]:
    """One DeleteObjects request; return the names a retention kept, raise for any other
    refusal."""
    answer = store._call(
        f"{len(batch)} objects",
        store.client.delete_objects,
        Bucket=store.bucket,
        Delete={"Objects": batch, "Quiet": True},
    )
    locked = []
    for error in answer.get("Errors", []):
        name = error["Key"][len(store.prefix) :]
        if error.get("Code") == "AccessDenied":
            locked.append(name)
        elif error.get("Code") != "NoSuchKey":
            reason = error.get("Message") or error.get("Code")
            raise StorageError(f"cannot delete {name} in {store.location}: {reason}")
    return locked
