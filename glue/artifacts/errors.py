"""Errors raised by the artifact store, and the one place that classifies backend failures.

Every error carries ``field`` (the key path or argument it concerns, e.g. ``artifact_uri``) and a
message that says what would be valid, so services can turn it into a problem+json body.

Three kinds of failure must never be confused, because callers act differently on each:

- the URI itself is bad (``InvalidArtifactURI``): the caller must send another URI;
- the deployment cannot serve the URI as configured (``StorageMisconfigured``): an operator must
  change a setting or install an extra; retrying the same request cannot help;
- the store is down for now (``StorageUnavailable``): retrying later may succeed.

``classify`` decides which one a backend exception (botocore, s3fs, gcsfs, aiohttp, the local
file system) is; the store words the message.
"""

from __future__ import annotations

import asyncio
import enum
import errno
from collections.abc import Iterator
from contextlib import suppress


class ArtifactError(Exception):
    """Base class of artifact store errors.

    Attributes:
        field: the input field or key path the error concerns (``"artifact_uri"`` by default).
    """

    def __init__(self, message: str, *, field: str = "artifact_uri") -> None:
        super().__init__(message)
        self.field = field


class InvalidArtifactURI(ArtifactError):  # noqa: N818 - reads as a noun in `except` clauses
    """The URI has a scheme that is not allowed, escapes the configured root, or is malformed
    (including names the backend refuses, e.g. a key longer than the store allows)."""


class ArtifactNotFound(ArtifactError):  # noqa: N818
    """Nothing exists at the URI (or a file listed in the manifest is missing)."""


class ChecksumMismatch(ArtifactError):  # noqa: N818
    """A file's sha256 or size differs from the manifest, or a file is missing/unexpected."""


class StorageUnavailable(ArtifactError):  # noqa: N818
    """The storage backend could not be reached for now: connection refused or reset, timeout,
    a 5xx or throttling answer. Transient: the same request may succeed later."""


class StorageMisconfigured(ArtifactError):  # noqa: N818
    """The deployment is not set up to serve this URI: a missing setting (endpoint, region,
    credentials), a missing optional extra, or credentials/permissions the store refuses.

    Permanent until an operator changes the deployment; retrying the same request cannot help.

    Attributes:
        setting: what to change, as the operator would type it: an environment variable such as
            ``KUBEAI_ARTIFACTS_OSS__ENDPOINT_URL``, or an extra such as ``kubeai-platform[gcs]``.
    """

    def __init__(self, message: str, *, setting: str, field: str = "artifact_uri") -> None:
        super().__init__(message, field=field)
        self.setting = setting


class ArtifactConflict(InvalidArtifactURI):
    """The URI already holds different content; artifacts are immutable (write to a new URI).

    A subclass of ``InvalidArtifactURI`` so handlers that treat a bad URI as a client error keep
    working; services may answer 409 for it specifically.
    """


class ArtifactTooLarge(ArtifactError):  # noqa: N818
    """The object is bigger than the caller's ``max_bytes`` limit."""


def describe(exc: BaseException) -> str:
    """``"<type>: <message>"`` of ``exc`` on one line, at most about 300 characters, for the
    messages of the errors above (the full exception stays available as ``__cause__``)."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Failure(enum.Enum):
    """What a backend exception means (``classify``)."""

    NOT_FOUND = "not_found"
    """Nothing at the path (``ArtifactNotFound``)."""
    WRONG_KIND = "wrong_kind"
    """A directory where a file was expected or the reverse (``ArtifactNotFound``)."""
    BAD_NAME = "bad_name"
    """The backend refuses the name itself, e.g. too long (``InvalidArtifactURI``)."""
    NO_CREDENTIALS = "no_credentials"
    """No credentials were found at all (``StorageMisconfigured``)."""
    DENIED = "denied"
    """Credentials refused, or permission denied (``StorageMisconfigured``)."""
    WRONG_REGION = "wrong_region"
    """The bucket lives in another region or behind another endpoint (``StorageMisconfigured``)."""
    REJECTED = "rejected"
    """The store rejects the request as sent (another 4xx answer), e.g. signed for the wrong
    region or addressing style; it will be rejected again (``StorageMisconfigured``)."""
    READ_ONLY = "read_only"
    """The storage is mounted or configured read-only (``StorageMisconfigured``)."""
    UNAVAILABLE = "unavailable"
    """Unreachable, timed out, 5xx, throttled or any other I/O failure (``StorageUnavailable``)."""


#: S3 error codes (AWS, MinIO, OSS's S3 API) that mean the request can never succeed as sent.
_S3_DENIED = frozenset(
    {
        "AccessDenied",
        "AccountProblem",
        "AllAccessDisabled",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidSecurity",
        "InvalidToken",
        "NotSignedUp",
        "RequestTimeTooSkewed",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "401",
        "403",
    }
)
_S3_WRONG_REGION = frozenset(
    {
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
        "PermanentRedirect",
        "301",
    }
)
_S3_BAD_NAME = frozenset({"KeyTooLongError", "InvalidURI"})
#: S3 codes and statuses of 4xx answers that a later retry may not get (timeouts, throttling,
#: concurrent operations); other 4xx answers without a known code are ``Failure.REJECTED``.
_S3_TRANSIENT_4XX = frozenset({"RequestTimeout", "SlowDown", "OperationAborted", "Throttling"})
_TRANSIENT_4XX_STATUS = frozenset({404, 408, 409, 416, 425, 429})
_PERMANENT_ERRNOS = {
    errno.ENAMETOOLONG: Failure.BAD_NAME,
    errno.EACCES: Failure.DENIED,
    errno.EPERM: Failure.DENIED,
    errno.EROFS: Failure.READ_ONLY,
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling (s3fs wraps botocore's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _botocore_failure(exc: BaseException) -> Failure | None:
    with suppress(ImportError):
        from botocore import exceptions as boto

        if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
            return Failure.NO_CREDENTIALS
        if isinstance(exc, boto.NoRegionError):
            return Failure.WRONG_REGION
        if isinstance(exc, boto.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = code or str(status or "")
            if code in _S3_DENIED or status in (401, 403):
                return Failure.DENIED
            if code in _S3_WRONG_REGION:
                return Failure.WRONG_REGION
            if code in _S3_BAD_NAME:
                return Failure.BAD_NAME
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                return Failure.NOT_FOUND
            if code in _S3_TRANSIENT_4XX:
                return Failure.UNAVAILABLE
            if isinstance(status, int) and 400 <= status < 500:
                return None if status in _TRANSIENT_4XX_STATUS else Failure.REJECTED
    return None


def _google_failure(exc: BaseException) -> Failure | None:
    with suppress(ImportError):
        from google.auth import exceptions as google_auth

        if isinstance(exc, google_auth.DefaultCredentialsError):
            return Failure.NO_CREDENTIALS
        if isinstance(exc, google_auth.RefreshError):
            return Failure.DENIED
    # gcsfs's HttpError and aiohttp's ClientResponseError carry the HTTP status.
    status = getattr(exc, "code", None) or getattr(exc, "status", None)
    if type(exc).__name__ in ("HttpError", "ClientResponseError") and status in (401, 403):
        return Failure.DENIED
    return None


def classify(exc: BaseException) -> Failure | None:
    """What the backend exception ``exc`` means, or None if it is not a storage failure at all
    (a programming error, which callers let propagate).

    The exception and its causes are examined: s3fs turns botocore's ``ClientError`` into
    ``OSError`` subclasses and keeps the original as cause or context, so the S3 error code
    decides where it is known. Anything else raised by the store's SDKs (connection refused or
    reset, timeouts, 5xx, throttling, unknown codes) is ``Failure.UNAVAILABLE``: only causes known
    to be permanent are reported as such.
    """
    if not isinstance(exc, _storage_errors()):
        return None
    for link in _chain(exc):
        found = _botocore_failure(link) or _google_failure(link)
        if found is not None:
            return found
    if isinstance(exc, FileNotFoundError):
        return Failure.NOT_FOUND
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return Failure.WRONG_KIND
    if isinstance(exc, PermissionError):
        return Failure.DENIED
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
        return _PERMANENT_ERRNOS.get(exc.errno or 0, Failure.UNAVAILABLE)
    return Failure.UNAVAILABLE


def _storage_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the store failed", for whichever SDKs are installed."""
    errors: list[type[BaseException]] = [OSError, TimeoutError, asyncio.TimeoutError]
    with suppress(ImportError):
        from fsspec.exceptions import FSTimeoutError

        errors.append(FSTimeoutError)
    with suppress(ImportError):
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    with suppress(ImportError):
        from aiohttp import ClientError as AiohttpClientError

        errors.append(AiohttpClientError)
    with suppress(ImportError):
        from google.auth.exceptions import GoogleAuthError

        errors.append(GoogleAuthError)
    return tuple(errors)
