"""``errors.classify``: which backend exceptions are permanent (misconfiguration or a bad name) and
which are a transient outage. Built from the real exception classes of botocore and s3fs (and s3fs's
own translation of S3 error codes), not look-alikes."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from s3fs.errors import translate_boto_error

from glue.artifacts.errors import Failure, classify


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} from the store"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetObject")


def _through_s3fs(code: str, status: int) -> BaseException:
    """The exception s3fs raises for this S3 answer: botocore's error translated, as s3fs does
    (with the original as cause, or only as context when s3fs passes ``set_cause=False``)."""
    try:
        raise _client_error(code, status)
    except ClientError as original:
        try:
            raise translate_boto_error(original, set_cause=False)
        except Exception as translated:
            return translated
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDenied", 403, Failure.DENIED),
        ("InvalidAccessKeyId", 403, Failure.DENIED),
        ("SignatureDoesNotMatch", 403, Failure.DENIED),
        ("ExpiredToken", 400, Failure.DENIED),
        ("InvalidToken", 400, Failure.DENIED),
        ("PermanentRedirect", 301, Failure.WRONG_REGION),
        ("AuthorizationHeaderMalformed", 400, Failure.WRONG_REGION),
        ("KeyTooLongError", 400, Failure.BAD_NAME),
        ("NoSuchKey", 404, Failure.NOT_FOUND),
        ("NoSuchBucket", 404, Failure.NOT_FOUND),
        ("InternalError", 500, Failure.UNAVAILABLE),
        ("ServiceUnavailable", 503, Failure.UNAVAILABLE),
        ("SlowDown", 503, Failure.UNAVAILABLE),
        ("RequestTimeout", 400, Failure.UNAVAILABLE),
        ("TemporaryRedirect", 307, Failure.UNAVAILABLE),
        ("SomethingNew", 502, Failure.UNAVAILABLE),
        ("400", 400, Failure.REJECTED),
        ("InvalidRequest", 400, Failure.REJECTED),
        ("OperationAborted", 409, Failure.UNAVAILABLE),
        ("429", 429, Failure.UNAVAILABLE),
        ("InvalidRange", 416, Failure.UNAVAILABLE),
    ],
)
def test_s3_answers(code: str, status: int, expected: Failure) -> None:
    """The S3 error code decides, whether botocore's error arrives as is or as s3fs's OSError."""
    assert classify(_client_error(code, status)) is expected
    assert classify(_through_s3fs(code, status)) is expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (NoCredentialsError(), Failure.NO_CREDENTIALS),
        (
            PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            Failure.NO_CREDENTIALS,
        ),
        (NoRegionError(), Failure.WRONG_REGION),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), Failure.UNAVAILABLE),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"), Failure.UNAVAILABLE),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), Failure.UNAVAILABLE),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Failure.UNAVAILABLE),
        (TimeoutError(), Failure.UNAVAILABLE),
        (TimeoutError(), Failure.UNAVAILABLE),
        (OSError(errno.EIO, "I/O error"), Failure.UNAVAILABLE),
        (FileNotFoundError(errno.ENOENT, "no such file"), Failure.NOT_FOUND),
        (IsADirectoryError(errno.EISDIR, "is a directory"), Failure.WRONG_KIND),
        (PermissionError(errno.EACCES, "permission denied"), Failure.DENIED),
        (OSError(errno.EROFS, "read-only file system"), Failure.READ_ONLY),
        (OSError(errno.ENAMETOOLONG, "file name too long"), Failure.BAD_NAME),
    ],
)
def test_sdk_and_local_errors(exc: BaseException, expected: Failure) -> None:
    assert classify(exc) is expected


def test_programming_errors_are_not_storage_failures() -> None:
    """A bug is not an outage: it propagates instead of becoming a 503."""
    assert classify(ValueError("bad")) is None
    assert classify(TypeError("bad")) is None
    assert classify(KeyError("x")) is None
