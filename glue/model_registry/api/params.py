"""Path and query parameter types shared by the routers (validated by FastAPI, documented in the
OpenAPI document)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from glue.model_registry import schemas

ModelName = Annotated[str, Path(pattern=schemas.DNS1123_LABEL, max_length=63)]
DatasetName = ModelName
ServiceName = Annotated[str, Path(pattern=schemas.DNS1123_LABEL, max_length=63)]
AliasName = Annotated[str, Path(pattern=schemas.ALIAS_PATTERN, max_length=63)]
PodName = Annotated[str, Path(pattern=schemas.DNS1123_SUBDOMAIN, max_length=253)]
PodQuery = Annotated[str, Query(pattern=schemas.DNS1123_SUBDOMAIN, max_length=253)]
#: A version number (1..2,147,483,647 digits) or an alias name.
VersionRef = Annotated[
    str, Path(pattern=r"^([1-9][0-9]{0,9}|[a-z]([-a-z0-9]*[a-z0-9])?)$", max_length=63)
]
Team = Annotated[str | None, Query(pattern=schemas.DNS1123_LABEL, max_length=63)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
