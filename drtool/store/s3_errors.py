"""What S3's failures mean: which are worth a retry, and the one-line error each ends in."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
)

from drtool.errors import DrtoolError, ObjectExists, ObjectMissing, RepositoryNotFound, StorageError

_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestLimitExceeded",
    "InternalError",
    "ServiceUnavailable",
    "BandwidthLimitExceeded",
    "OperationAborted",
}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


def is_transient(error: BaseException) -> bool:
    """Whether retrying ``error`` may succeed: throttling, 5xx, resets, timeouts."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = error.response.get("Error", {}).get("Code", "")
        return code in _TRANSIENT_CODES or (status >= 500 and status != 501) or status == 429
    return isinstance(error, ConnectionError | HTTPClientError | IncompleteReadError)


def storage_error(error: BaseException, what: str, where: str, attempts: int) -> DrtoolError:
    """Given the final failure of a request about ``what`` in ``where``, return its error."""
    bucket = where.removeprefix("s3://").split("/", 1)[0]
    if isinstance(error, NoCredentialsError):
        return StorageError("no S3 credentials found (environment, profile or instance role)")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _MISSING_CODES:
            return ObjectMissing(f"{what} is missing from the repository")
        if code == "PreconditionFailed":
            return ObjectExists(f"{what} already exists in {where}")
        if code == "NoSuchBucket":
            return RepositoryNotFound(f"bucket {bucket} does not exist")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StorageError(f"S3 refused the credentials ({code}) for {where}")
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "301"):
            return StorageError(f"bucket {bucket} is in another region ({code}): set AWS_REGION")
        if code == "AccessDenied" or status == 403:
            return StorageError(f"access denied to {what} in {where} ({code or status})")
        if is_transient(error):
            return StorageError(
                f"S3 kept failing on {what} after {attempts} attempts ({code or status})"
            )
        return StorageError(f"S3 error on {what}: {code or status}")
    return StorageError(f"S3 unreachable on {what} after retries: {error}")
