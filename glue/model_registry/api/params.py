"""Path and query parameter types shared by the routers (validated by FastAPI, documented in the
OpenAPI document).

Every text parameter follows the rules of the body field it names or filters on (the same type
from ``schemas``), so a parameter never admits what the body refuses: no control characters (a
NUL byte cannot be stored in or compared with PostgreSQL text), bounded length, the same pattern.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from glue.model_registry import schemas

ModelName = Annotated[schemas.Name, Path()]
DatasetName = ModelName
ServiceName = Annotated[schemas.Name, Path()]
#: An alias: none of ``schemas.RESERVED_ALIASES`` nor ``v<number>`` (422 listing them).
AliasName = Annotated[schemas.AliasName, Path()]
PodName = Annotated[schemas.PodName, Path()]
PodQuery = Annotated[schemas.PodName, Query()]
#: A version number (1..2,147,483,647), ``latest`` or an alias name.
VersionRef = Annotated[schemas.VersionRef, Path()]
Team = Annotated[schemas.Name | None, Query()]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
#: The ``source_uid`` filter: what ``SourceRef.uid`` accepts.
SourceUidQuery = Annotated[schemas.SourceUid | None, Query()]
#: The ``dataset`` filter: a dataset name.
DatasetQuery = Annotated[schemas.Name | None, Query()]
#: The audit log's ``principal`` filter: a principal name as the registry records it (one line).
PrincipalQuery = Annotated[schemas.ShortText | None, Query(min_length=1)]
#: The audit log's ``action`` filter: ``<resource>.<verb>`` (``alias.set``, ``version.register``).
ActionQuery = Annotated[
    schemas.AuditAction | None, Query(description="e.g. alias.set, version.register")
]
#: A model named in a query (the traffic's ``model``).
ModelQuery = Annotated[schemas.Name, Query()]
#: Why a change was made (the reason a canary was cleared), as the bodies' ``reason``.
ReasonQuery = Annotated[schemas.LongText, Query()]
#: A traffic window in seconds: 1 s .. ``TRAFFIC_RETENTION_S`` (samples kept that long).
WindowQuery = Annotated[float, Query(ge=1, le=schemas.TRAFFIC_RETENTION_S, allow_inf_nan=False)]
