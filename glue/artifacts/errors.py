"""Errors raised by the artifact store.

Every error carries ``field`` (the key path or argument it concerns, e.g. ``artifact_uri``) and a
message that says what would be valid, so services can turn it into a problem+json body.
"""

from __future__ import annotations


class ArtifactError(Exception):
    """Base class of artifact store errors.

    Attributes:
        field: the input field or key path the error concerns (``"artifact_uri"`` by default).
    """

    def __init__(self, message: str, *, field: str = "artifact_uri") -> None:
        super().__init__(message)
        self.field = field


class InvalidArtifactURI(ArtifactError):  # noqa: N818 - reads as a noun in `except` clauses
    """The URI has a scheme that is not allowed, escapes the configured root, or is malformed."""


class ArtifactNotFound(ArtifactError):  # noqa: N818
    """Nothing exists at the URI (or a file listed in the manifest is missing)."""


class ChecksumMismatch(ArtifactError):  # noqa: N818
    """A file's sha256 or size differs from the manifest, or a file is missing/unexpected."""


class StorageUnavailable(ArtifactError):  # noqa: N818
    """The storage backend could not be reached or refused the request (network, auth, 5xx)."""


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
