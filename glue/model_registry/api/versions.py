"""Routes of ``/api/v1/teams/{team}/models/{model}/versions``: register, list and read versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from glue.model_registry import schemas
from glue.model_registry.api import TEAM_PREFIX
from glue.model_registry.api.params import (
    DatasetQuery,
    ModelName,
    Offset,
    SourceUidQuery,
    VersionRef,
)
from glue.model_registry.deps import (
    AppMetrics,
    AppPolicy,
    Caller,
    Db,
    Limit,
    Reader,
    ReadTeam,
    Settings,
    Store,
    WriteTeam,
)
from glue.model_registry.service import registration
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
    team: WriteTeam,
    model: ModelName,
    body: schemas.VersionCreate,
    response: Response,
    who: Caller,
    policy: AppPolicy,
    db: Db,
    store: Store,
    settings: Settings,
    metrics: AppMetrics,
) -> schemas.VersionRead:
    """Register a version; the same ``source.uid`` returns the existing one (200).

    A ServiceAccount (a training job, the lifecycle controller) may only register versions
    produced by a job in the team's namespace (403 naming ``body.source.namespace``).
    """
    policy.require_source(who, team, body.source.namespace)
    version, created = registration.register_version(
        db=db,
        store=store,
        team=team,
        model_name=model,
        body=body,
        principal=who,
        verify_config=settings.verify_config,
        on_outcome=metrics.count_registration,
        artifact_prefixes=settings.team_prefixes(team),
    )
    if not created:
        response.status_code = 200
    return version


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


@router.get("/models/{model}/versions/{version}", response_model=schemas.VersionRead)
def get_version(
    team: ReadTeam, model: ModelName, version: VersionRef, session: Reader
) -> schemas.VersionRead:
    """One version by number, ``latest`` (the newest) or alias name."""
    return svc.version_read(svc.get_version(session, team=team, model_name=model, ref=version))
