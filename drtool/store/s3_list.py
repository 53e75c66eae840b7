"""S3 listings: ListObjectsV2, one page (of up to 1,000) at a time, each page's request retried
on its own: nothing of a listing is held beyond the current page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from drtool.store.base import ListedObject

if TYPE_CHECKING:
    from drtool.store.s3 import S3Store


def list_objects(store: S3Store, prefix: str) -> Iterator[ListedObject]:
    """Every object under ``prefix``; S3 lists in the order of the keys, so sorted."""
    for page in _pages(store, prefix):
        for item in page.get("Contents", []):
            name = item["Key"][len(store.prefix) :]
            yield ListedObject(name, item["Size"], item["LastModified"])


def list_folders(store: S3Store, prefix: str) -> Iterator[str]:
    """The names one level below ``prefix`` (the delimiter "/"): one request per 1,000."""
    under = _under(store, prefix)
    for page in _pages(store, prefix, Delimiter="/"):
        for item in page.get("CommonPrefixes", []):
            yield item["Prefix"][len(under) :].removesuffix("/")


def _under(store: S3Store, prefix: str) -> str:
    return store._key(prefix.rstrip("/")) + "/" if prefix else store.prefix


def _pages(store: S3Store, prefix: str, **extra: str) -> Iterator[dict[str, Any]]:
    arguments = {"Bucket": store.bucket, "Prefix": _under(store, prefix), **extra}
    while True:
        page = store._call(prefix, store.client.list_objects_v2, **arguments)
        yield page
        if not page.get("IsTruncated"):
            return
        arguments["ContinuationToken"] = page["NextContinuationToken"]
