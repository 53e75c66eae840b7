"""Streaming an S3 object: a GetObject body that resumes with a Range request after a break."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ConnectionError, HTTPClientError, IncompleteReadError

if TYPE_CHECKING:
    from drtool.store.s3 import S3Store

log = logging.getLogger(__name__)


class ResumingReader(io.RawIOBase):
    """A GetObject body that, when the connection breaks, asks again from where it stopped."""

    def __init__(self, store: S3Store, name: str, key: str, answer: dict[str, Any]) -> None:
        self.store, self.name, self.key = store, name, key
        self.body = answer["Body"]
        self.etag = answer.get("ETag")
        self.length = answer["ContentLength"]
        self.offset = 0
        self.resumes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.offset >= self.length:
            return 0
        while True:
            try:
                data = self.body.read(len(buffer))
            except (HTTPClientError, ConnectionError, IncompleteReadError) as error:
                self._resume(error)
                continue
            if not data and self.offset < self.length:
                self._resume(
                    IncompleteReadError(actual_bytes=self.offset, expected_bytes=self.length)
                )
                continue
            buffer[: len(data)] = data
            self.offset += len(data)
            return len(data)

    def _resume(self, error: BaseException) -> None:
        self.resumes += 1
        if self.resumes > self.store.options.max_attempts:
            raise self.store.storage_error(error, self.name)
        log.info("resuming %s at byte %d after: %s", self.name, self.offset, error)
        self.body.close()
        arguments = {"IfMatch": self.etag} if self.etag else {}
        answer = self.store._call(
            self.name,
            self.store.client.get_object,
            Bucket=self.store.bucket,
            Key=self.key,
            Range=f"bytes={self.offset}-",
            **arguments,
        )
        self.body = answer["Body"]

    def close(self) -> None:
        self.body.close()
        super().close()
