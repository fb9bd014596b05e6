"""The OpenAPI document and its UIs (``/openapi.json``, ``/docs``, ``/redoc``), behind
authentication when ``settings.auth.protect_docs`` is set."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from glue.model_registry.deps import guard

router = APIRouter(include_in_schema=False, dependencies=[Depends(guard("protect_docs"))])


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    """The OpenAPI 3.1 document of the registry API."""
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title=request.app.title)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc over ``/openapi.json``."""
    return get_redoc_html(openapi_url="/openapi.json", title=request.app.title)
