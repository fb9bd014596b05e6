"""The registry's OpenAPI document as this deployment's settings make the server behave.

FastAPI builds the document from the routes' static types; what a setting decides at run time
(the largest page, ``max_page_size``; the longest long-poll, ``long_poll_max_seconds``) is written
in here, so the document never promises what the
server refuses. ``install`` replaces the app's ``openapi()`` (the document is built once, on the
first request of ``/openapi.json``).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from glue.model_registry.settings import RegistrySettings

#: The page-size query parameter of every list operation (``deps.Limit``).
LIMIT_PARAMETER = "limit"
#: The long-poll query parameter of the read path (``deps.Wait``).
WAIT_PARAMETER = "wait"


def install(app: FastAPI, settings: RegistrySettings) -> None:
    """Make ``app.openapi()`` return the document with ``settings`` applied (``apply``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = apply(build(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def apply(document: dict[str, Any], settings: RegistrySettings) -> dict[str, Any]:
    """``document`` (changed in place and returned) with every ``limit`` query parameter's
    ``maximum`` set to ``settings.max_page_size``, every ``wait`` one's to
    ``settings.long_poll_max_seconds``; for an open registry (no authenticator,
    loopback only) no security requirement and no 401/403 answers, as none is enforced."""
    open_registry = not settings.auth.enabled
    if open_registry:
        document.get("components", {}).pop("securitySchemes", None)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if open_registry:
                operation.pop("security", None)
                for status in ("401", "403"):
                    operation.get("responses", {}).pop(status, None)
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "query" and parameter.get("name") == WAIT_PARAMETER:
                    parameter["schema"]["maximum"] = settings.long_poll_max_seconds
                if parameter.get("in") == "query" and parameter.get("name") == LIMIT_PARAMETER:
                    parameter["schema"]["maximum"] = settings.max_page_size
                    parameter["description"] = (
                        f"page size, 1..{settings.max_page_size} (the registry's max_page_size "
                        "setting)"
                    )
    return document


#: Operation keys of an OpenAPI path item (the rest are ``parameters``, ``summary``...).
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class Resources:
    """The documented resources of an OpenAPI document: which methods each path answers.

    A request path may match several templates (``/models/m/aliases/history`` matches
    ``/aliases/history`` and ``/aliases/{alias}``); the one with the most literal segments is the
    resource, as the literal words are reserved names that no parameter accepts.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self._templates = sorted(
            (
                (
                    sum(1 for part in path.split("/") if part and "{" not in part),
                    re.compile("^" + re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path)) + "$"),
                    sorted(m.upper() for m in item if m in HTTP_METHODS),
                )
                for path, item in document.get("paths", {}).items()
            ),
            key=lambda t: -t[0],
        )

    def methods(self, path: str) -> list[str] | None:
        """The methods of the resource at ``path`` (sorted), or None if no template matches."""
        for _, pattern, methods in self._templates:
            if pattern.match(path):
                return methods
        return None
