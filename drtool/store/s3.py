"""The S3 backend (boto3): any S3-compatible endpoint, retried with tenacity, streamed both ways.

Credentials, region and endpoint come the boto3 way (environment, profile, instance or IRSA
role, ``AWS_ENDPOINT_URL``). Transient failures (throttling, 5xx, resets, timeouts) are retried
with exponential backoff and jitter, bounded in attempts and in time; permanent ones fail at
once with a message that names the cause. Downloads resume with a Range request after a broken
connection, so memory stays flat and a reset mid-body costs one request, not a restart.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from drtool.errors import (
    ConfigError,
    DrtoolError,
    ObjectExists,
    ObjectLocked,
    ObjectMissing,
    StorageError,
)
from drtool.store.base import ListedObject, ObjectInfo, Store, check_name
from drtool.store.s3_delete import delete_in_batches
from drtool.store.s3_errors import is_transient, storage_error
from drtool.store.s3_list import list_folders, list_objects
from drtool.store.s3_reader import ResumingReader

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class S3Options:
    """Pass-through settings and the retry budget; every field has an operator-facing default."""

    storage_class: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    object_lock_mode: str = "COMPLIANCE"
    part_size: int = 8 * 1024 * 1024
    max_attempts: int = 8
    max_retry_seconds: float = 120.0
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 20.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


def parse_s3_url(url: str) -> tuple[str, str]:
    """Given ``s3://bucket/some/prefix``, return the bucket and ``some/prefix/`` (or "")."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"repository URL {url!r} names no bucket (s3://BUCKET/PREFIX)")
    prefix = prefix.strip("/")
    if prefix:
        check_name(prefix)
    return bucket, f"{prefix}/" if prefix else ""


class S3Store(Store):
    def __init__(self, url: str, options: S3Options | None = None, client: Any = None) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.location = url
        self.options = options or S3Options()
        self.client = client or boto3.client(
            "s3",
            config=Config(
                # tenacity does the retrying, with a budget we control and can test.
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=self.options.connect_timeout,
                read_timeout=self.options.read_timeout,
                # Many S3-compatible servers (Ceph before 18, older MinIO) reject the newer
                # default checksums; Content-MD5 is sent explicitly instead.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self.requests = 0
        self._counting = threading.Lock()
        self._versioned: bool | None = None

    # -- the retry seam: every request goes through here --------------------------------------

    def _call(self, what: str, operation: Callable[..., T], **arguments: Any) -> T:
        """Run one S3 request with retries; map its final failure to a StorageError."""
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.options.max_attempts)
            | stop_after_delay(self.options.max_retry_seconds),
            wait=wait_random_exponential(
                multiplier=self.options.backoff_seconds, max=self.options.backoff_max_seconds
            ),
            before_sleep=_log_retry(what),
            reraise=True,
        )

        def attempt() -> T:
            with self._counting:  # manifests are read by several threads at once
                self.requests += 1
            return operation(**arguments)

        try:
            return retrying(attempt)
        except (ClientError, BotoCoreError) as error:
            raise self.storage_error(error, what) from None

    def storage_error(self, error: BaseException, what: str) -> DrtoolError:
        return storage_error(error, what, self.location, self.options.max_attempts)

    # -- the Store interface ------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return self.prefix + check_name(name)

    def exists(self) -> bool:
        try:
            self._call("the bucket", self.client.head_bucket, Bucket=self.bucket)
        except ObjectMissing:
            return False
        return True

    def _put_arguments(self, retain_until: datetime | None) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        if self.options.storage_class:
            arguments["StorageClass"] = self.options.storage_class
        if self.options.sse:
            arguments["ServerSideEncryption"] = self.options.sse
        if self.options.sse_kms_key_id:
            arguments["SSEKMSKeyId"] = self.options.sse_kms_key_id
        if retain_until is not None:
            arguments["ObjectLockMode"] = self.options.object_lock_mode
            arguments["ObjectLockRetainUntilDate"] = retain_until
        return arguments

    def put(self, name: str, chunks: Iterable[bytes], retain_until: datetime | None = None) -> int:
        key = self._key(name)
        arguments = self._put_arguments(retain_until)
        blocks = _blocks(chunks, self.options.part_size)
        first = next(blocks, b"")
        second = next(blocks, None)
        if second is None:
            self._put_object(name, key, first, **arguments)
            return len(first)
        return self._multipart(name, key, [first, second], blocks, arguments)

    def _put_object(self, name: str, key: str, data: bytes, **arguments: Any) -> dict[str, Any]:
        return self._call(
            name,
            self.client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentMD5=_md5(data),
            **arguments,
        )

    def _multipart(
        self,
        name: str,
        key: str,
        head: list[bytes],
        rest: Iterator[bytes],
        arguments: dict[str, Any],
    ) -> int:
        upload = self._call(
            name, self.client.create_multipart_upload, Bucket=self.bucket, Key=key, **arguments
        )
        upload_id = upload["UploadId"]
        parts, size = [], 0
        try:
            for number, block in enumerate([*head, *rest], start=1):
                answer = self._call(
                    name,
                    self.client.upload_part,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=block,
                    ContentMD5=_md5(block),
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                size += len(block)
            self._complete(name, key, upload_id, parts, size)
        except BaseException:
            self._abort(name, key, upload_id)
            raise
        return size

    def _complete(
        self, name: str, key: str, upload_id: str, parts: list[dict[str, Any]], size: int
    ) -> None:
        try:
            self._call(
                name,
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except StorageError as error:
            # A retry after a lost answer finds the upload already completed: check the result.
            completed = "NoSuchUpload" in str(error) and self.contains(name)
            if not (completed and self.stat(name).size == size):
                raise

    def _abort(self, name: str, key: str, upload_id: str) -> None:
        try:
            self._call(
                name,
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
            )
        except StorageError as error:
            log.warning("could not abort the upload of %s (prune will): %s", name, error)

    def put_new(self, name: str, data: bytes) -> None:
        """Conditional write with ``If-None-Match: *``.

        Some S3-compatible servers ignore the condition (Ceph before 18 does); on a versioned
        bucket the race is then settled by the version order, which every writer sees alike.
        """
        key = self._key(name)
        if self.contains(name):
            raise ObjectExists(f"{name} already exists in {self.location}")
        try:
            answer = self._put_object(name, key, data, IfNoneMatch="*")
        except ObjectExists:
            # A retry of our own write whose first answer was lost finds our bytes there.
            if self.get(name) == data:
                return
            raise
        if not self.is_versioned():
            return
        versions = self.versions(name, key)
        if versions and versions[-1]["VersionId"] != answer.get("VersionId"):
            self._delete_version(name, key, answer["VersionId"])
            raise ObjectExists(f"{name} already exists in {self.location}")

    def is_versioned(self) -> bool:
        if self._versioned is None:
            answer = self._call(
                "the bucket's versioning", self.client.get_bucket_versioning, Bucket=self.bucket
            )
            self._versioned = answer.get("Status") == "Enabled"
        return self._versioned

    def versions(self, name: str, key: str, markers: bool = False) -> list[dict[str, Any]]:
        """Every version of ``key`` in S3's order (newest first), then its delete markers."""
        paginator = self.client.get_paginator("list_object_versions")
        pages = self._call(name, lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=key)))
        kinds = ("Versions", "DeleteMarkers") if markers else ("Versions",)
        return [
            item
            for kind in kinds
            for page in pages
            for item in page.get(kind, [])
            if item["Key"] == key
        ]

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        key = self._key(name)
        answer = self._call(name, self.client.get_object, Bucket=self.bucket, Key=key)
        reader = ResumingReader(self, name, key, answer)
        try:
            yield io.BufferedReader(reader, buffer_size=1024 * 1024)  # type: ignore[arg-type]
        finally:
            reader.close()

    def contains(self, name: str) -> bool:
        try:
            self.stat(name)
        except ObjectMissing:
            return False
        return True

    def stat(self, name: str) -> ObjectInfo:
        answer = self._call(name, self.client.head_object, Bucket=self.bucket, Key=self._key(name))
        return ObjectInfo(
            answer["ContentLength"],
            answer["LastModified"],
            answer.get("ObjectLockRetainUntilDate"),
        )

    def check_can_lock(self) -> None:
        try:
            answer = self._call(
                "the bucket's object lock configuration",
                self.client.get_object_lock_configuration,
                Bucket=self.bucket,
            )
            enabled = answer["ObjectLockConfiguration"].get("ObjectLockEnabled") == "Enabled"
        except StorageError:
            enabled = False
        if not enabled:
            raise ConfigError(
                f"bucket {self.bucket} does not have Object Lock enabled "
                "(it can only be enabled when the bucket is created)"
            )

    def extend_retention(self, name: str, retain_until: datetime) -> None:
        self._call(
            name,
            self.client.put_object_retention,
            Bucket=self.bucket,
            Key=self._key(name),
            Retention={"Mode": self.options.object_lock_mode, "RetainUntilDate": retain_until},
        )

    def list(self, prefix: str) -> Iterator[str]:
        return (item.name for item in self.list_info(prefix))

    def list_info(self, prefix: str) -> Iterator[ListedObject]:
        return list_objects(self, prefix)

    def list_folders(self, prefix: str) -> Iterator[str]:
        return list_folders(self, prefix)

    def delete(self, name: str) -> None:
        key = self._key(name)
        if not self.is_versioned():
            self._call(name, self.client.delete_object, Bucket=self.bucket, Key=key)
            return
        for version in self.versions(name, key, markers=True):
            self._delete_version(name, key, version["VersionId"])

    def _delete_version(self, name: str, key: str, version_id: str) -> None:
        try:
            self._call(
                name, self.client.delete_object, Bucket=self.bucket, Key=key, VersionId=version_id
            )
        except StorageError as error:
            if "access denied" in str(error):
                raise ObjectLocked(f"{name} is under retention (Object Lock)") from None
            raise

    def delete_many(self, names: Iterable[str]) -> list[str]:
        return delete_in_batches(self, names)

    def clean_leftovers(self, older_than: datetime) -> int:
        """Abort multipart uploads under the prefix begun before ``older_than``."""
        answer = self._call(
            "multipart uploads",
            self.client.list_multipart_uploads,
            Bucket=self.bucket,
            Prefix=self.prefix,
        )
        aborted = 0
        for upload in answer.get("Uploads", []):
            if upload["Initiated"] < older_than:
                self._abort(upload["Key"], upload["Key"], upload["UploadId"])
                aborted += 1
        return aborted


def _blocks(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Regroup ``chunks`` into blocks of ``size`` bytes (the last may be shorter)."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _log_retry(what: str) -> Callable[[RetryCallState], None]:
    def log_it(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info("S3 %s: attempt %d failed (%s); retrying", what, state.attempt_number, error)

    return log_it
