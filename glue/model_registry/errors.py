"""Domain errors of the registry; the API turns each into an RFC 9457 problem+json response."""

from __future__ import annotations


class RegistryProblem(Exception):  # noqa: N818 - it is returned as a "problem"
    """Base: an HTTP ``status``, a short ``title``, the ``detail`` and the offending ``field``.

    ``field`` is a key path such as ``body.artifact_uri`` or ``path.model`` (None when the error
    concerns no single field).
    """

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(RegistryProblem):
    """The named model, version, alias, dataset or service does not exist (404)."""

    status = 404
    title = "Not found"


class Conflict(RegistryProblem):
    """The request conflicts with stored state, e.g. a name already taken (409)."""

    status = 409
    title = "Conflict"


class Invalid(RegistryProblem):
    """Well-formed input that breaks a rule (e.g. signature differs from config.pbtxt) (422)."""

    status = 422
    title = "Unprocessable content"


class StorageNotConfigured(Invalid):
    """This deployment is not configured to serve the artifact URI's storage (no credentials or
    endpoint, a missing extra, credentials refused); the detail names the setting (422, an
    ``Invalid`` with its own title). Not retryable: an operator must change the registry's
    settings or the client must use storage the registry can read."""

    title = "Artifact storage not configured"


class Unavailable(RegistryProblem):
    """A dependency (artifact storage) could not be reached; retry later (503)."""

    status = 503
    title = "Service unavailable"
