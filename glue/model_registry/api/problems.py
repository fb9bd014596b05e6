"""Errors as RFC 9457 problem+json: the response builder and the app's exception handlers.

Every error names the offending field in ``errors`` (``{"field": "body.artifact_uri", ...}``).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from glue.model_registry import schemas
from glue.model_registry.errors import Invalid, NotFound, RegistryProblem

log = structlog.get_logger("kubeai.registry")

PROBLEM = "application/problem+json"

#: The error responses every operation documents (405: the path's resource may be another
#: template's, e.g. ``PUT /models/m/aliases/history``, see ``middleware.DocumentedMethods``).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Problem, "content": {PROBLEM: {}}}
    for status in (400, 401, 403, 404, 405, 409, 413, 422, 503)
}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


#: The challenge of a 401 (RFC 6750 section 3).
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kubeai-registry"'}


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None,
    errors: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem+json response (a 401 also carries the bearer challenge)."""
    body = schemas.Problem(
        title=title, status=status, detail=detail, instance=instance, errors=errors
    )
    headers = {**(CHALLENGE if status == 401 else {}), **(headers or {})}
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM, headers=headers)


async def domain_problem(request: Request, exc: RegistryProblem) -> JSONResponse:
    """Handler: a ``RegistryProblem`` becomes its status, title, detail and field.

    A ``NotFound`` naming a body field (``body.version``, ``body.assignments[0].model``) is a
    422: the request's target exists, what is missing is something the body refers to, and a
    404 would say the target itself is gone (RFC 9110, section 15.5.5).
    """
    status, title = exc.status, exc.title
    if isinstance(exc, NotFound) and (exc.field or "").startswith("body."):
        status, title = Invalid.status, Invalid.title
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
    return problem(status, title, exc.detail, instance=request.url.path, errors=errors)


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Handler: request validation errors become 422 with one entry per offending field."""
    errors = [
        {
            # A JSON syntax error's loc holds a character offset, not a field: name the body.
            "field": "body" if err.get("type") == "json_invalid" else _field_of(err.get("loc", ())),
            "message": err.get("msg", "invalid")
            + (
                f" ({err['ctx']['error']})"
                if err.get("type") == "json_invalid"
                and isinstance(err.get("ctx"), dict)
                and "error" in err["ctx"]
                else ""
            ),
        }
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem(422, "Invalid request", detail, instance=request.url.path, errors=errors)


async def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Handler: Starlette's HTTP errors (404 for unknown paths, 405 with its ``Allow``...) as
    problem+json, with the exception's headers."""
    response = problem(
        exc.status_code, str(exc.detail), str(exc.detail), instance=request.url.path, errors=[]
    )
    response.headers.update(exc.headers or {})
    return response


async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
    """Handler: a database ``OperationalError`` (unreachable, locked too long) is 503."""
    log.error("database error", error=str(exc.orig))
    return problem(
        503,
        "Service unavailable",
        "the registry database is unavailable; retry later",
        instance=request.url.path,
        errors=[],
    )


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Handler: anything else is a logged 500 that leaks no detail."""
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return problem(
        500,
        "Internal error",
        "unexpected error; it has been logged",
        instance=request.url.path,
        errors=[],
    )
