"""Routes of ``/api/v1/teams/{team}/models/{model}/versions``: register, list and read versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.types import Receive

from glue.model_registry import schemas
from glue.model_registry.api import TEAM_PREFIX
from glue.model_registry.api.params import (
    DatasetQuery,
    ModelName,
    Offset,
    SourceUidQuery,
    VersionRef,
)
from glue.model_registry.db import Database
from glue.model_registry.deps import (
    IfNoneMatch,
    Limit,
    Reader,
    ReadTeam,
    Wait,
    WriteTeam,
    app_metrics,
    app_settings,
    artifact_store,
    authenticated,
    database,
    policy,
    read_path,
)
from glue.model_registry.readpath import ReadPath, json_bytes
from glue.model_registry.service import generations, registration
from glue.model_registry.service import versions as svc
from glue.model_registry.service.common import page_of

router = APIRouter(prefix=TEAM_PREFIX, tags=["versions"])


@router.post(
    "/models/{model}/versions",
    status_code=201,
    response_model=schemas.VersionRead,
    responses={200: {"model": schemas.VersionRead, "description": "already registered"}},
)
def register_version(
    request: Request,
    team: WriteTeam,
    model: ModelName,
    body: schemas.VersionCreate,
) -> Response:
    """Register a version; the same ``source.uid`` returns the existing one (200).

    A ServiceAccount (a training job, the lifecycle controller) may only register versions
    produced by a job in the team's namespace (403 naming ``body.source.namespace``).

    The answer is the ``VersionRead`` serialised here (``json_bytes``), in this function's one
    threadpool call: FastAPI would otherwise validate the returned model against
    ``response_model`` again, in a second threadpool call, before serialising it. The app's
    policy, database, store, settings and metrics are read from ``request`` (no dependency
    resolution per request for them), and so is the caller that ``WriteTeam`` authenticated
    (``authenticated``).
    """
    who = authenticated(request)
    settings = app_settings(request)
    policy(request).require_source(who, team, body.source.namespace)
    version, created = registration.register_version(
        db=database(request),
        store=artifact_store(request),
        team=team,
        model_name=model,
        body=body,
        principal=who,
        verify_config=settings.verify_config,
        on_outcome=app_metrics(request).count_registration,
        artifact_prefixes=settings.team_prefixes(team),
    )
    if created:  # committed (numbering.py): this process's long-polls check now
        read_path(request).watcher.poke()
    return Response(
        json_bytes(version), status_code=201 if created else 200, media_type="application/json"
    )


@router.get("/models/{model}/versions", response_model=schemas.Page[schemas.VersionRead])
def list_versions(
    team: ReadTeam,
    model: ModelName,
    session: Reader,
    limit: Limit,
    offset: Offset = 0,
    source_uid: SourceUidQuery = None,
    dataset: DatasetQuery = None,
) -> Any:
    """A model's versions, newest first; filter by producing ``source_uid`` or ``dataset``."""
    rows, total = svc.list_versions(
        session,
        team=team,
        model_name=model,
        limit=limit,
        offset=offset,
        source_uid=source_uid,
        dataset=dataset,
    )
    return page_of([svc.version_read(v) for v in rows], total, limit=limit, offset=offset)


@router.get(
    "/models/{model}/versions/{version}",
    response_model=schemas.VersionRead,
    responses={304: {"description": "Not Modified: the If-None-Match ETag is current"}},
)
async def get_version(
    request: Request,
    team: ReadTeam,
    model: ModelName,
    version: VersionRef,
    wait: Wait,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One version by number, ``latest`` (the newest) or alias name.

    Answers carry a strong ``ETag``; ``If-None-Match`` naming the current one is 304, and with
    ``wait`` the request is held until the answer changes (an alias move) or the wait ends.
    """
    return await version_answer(
        database(request),
        read_path(request),
        team=team,
        model=model,
        version=version,
        wait=wait,
        if_none_match=if_none_match,
        receive=request.receive,
    )


async def version_answer(
    db: Database,
    reads: ReadPath,
    *,
    team: str,
    model: str,
    version: str,
    wait: float,
    if_none_match: str | None,
    receive: Receive | None,
) -> Response:
    """The answer of ``GET .../models/{model}/versions/{version}`` for valid, authorised
    arguments (the route's and ``fastpath.ReadFastPath``'s): see ``ReadPath.read``. Raises
    ``NotFound`` for an unknown model or version, ``SQLAlchemyError`` when the database
    fails."""

    def compute() -> tuple[bytes, None]:
        with db.reading() as session:
            found = svc.get_version(session, team=team, model_name=model, ref=version)
            return json_bytes(svc.version_read(found)), None

    return await reads.read(
        ("model", team, model, version),
        generations.model_token,
        compute,
        if_none_match=if_none_match,
        wait=wait,
        receive=receive,
    )
