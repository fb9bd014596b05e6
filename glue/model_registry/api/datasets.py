"""Routes of ``/api/v1/teams/{team}/datasets``: record (idempotent), sync from a Fluid Dataset
(upsert), list and read datasets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from glue.model_registry import schemas
from glue.model_registry.api import TEAM_PREFIX
from glue.model_registry.api.params import DatasetName, Offset
from glue.model_registry.deps import (
    AppPolicy,
    Caller,
    Limit,
    Reader,
    ReadTeam,
    Settings,
    Store,
    Writer,
    WriteTeam,
)
from glue.model_registry.service import audit
from glue.model_registry.service import datasets as svc
from glue.model_registry.service.common import check_artifact_uri, check_body_team, page_of

router = APIRouter(prefix=TEAM_PREFIX, tags=["datasets"])


@router.post("/datasets", status_code=201, response_model=schemas.DatasetRead)
def register_dataset(
    team: WriteTeam,
    body: schemas.DatasetCreate,
    response: Response,
    session: Writer,
    store: Store,
    who: Caller,
    settings: Settings,
) -> Any:
    """Record a dataset; the same name and manifest again returns it (200)."""
    check_body_team(body.team, team)
    uri = check_artifact_uri(
        store=store, uri=body.uri, field="body.uri", prefixes=settings.team_prefixes(team)
    )
    body = body.model_copy(update={"uri": uri})
    dataset, created = svc.register_dataset(session, team=team, body=body)
    if created:
        audit.record(
            session,
            who,
            team=team,
            action="dataset.register",
            resource=f"datasets/{dataset.name}",
            detail={"uri": dataset.uri, "rows": dataset.rows},
        )
    else:
        response.status_code = 200
    return svc.dataset_read(dataset)


@router.get("/datasets", response_model=schemas.Page[schemas.DatasetRead])
def list_datasets(team: ReadTeam, session: Reader, limit: Limit, offset: Offset = 0) -> Any:
    """The team's datasets ordered by name."""
    rows, total = svc.list_datasets(session, team=team, limit=limit, offset=offset)
    return page_of([svc.dataset_read(d) for d in rows], total, limit=limit, offset=offset)


@router.get("/datasets/{dataset}", response_model=schemas.DatasetRead)
def get_dataset(team: ReadTeam, dataset: DatasetName, session: Reader) -> Any:
    """One dataset."""
    return svc.dataset_read(svc.get_dataset(session, team=team, name=dataset))


@router.put(
    "/datasets/{dataset}",
    response_model=schemas.DatasetRead,
    responses={201: {"model": schemas.DatasetRead, "description": "Created"}},
)
def sync_dataset(
    team: WriteTeam,
    dataset: DatasetName,
    body: schemas.DatasetSync,
    response: Response,
    session: Writer,
    who: Caller,
    policy: AppPolicy,
) -> Any:
    """Create (201) or bring up to date (200) the record mirroring a Fluid Dataset; the same
    state again changes nothing. Each change is audited as ``dataset.sync``.

    Only a lifecycle controller's ServiceAccount or an admin may sync (403 naming
    ``body.source`` for any other ServiceAccount), and a non-admin only a Dataset of the team's
    namespace (403 naming ``body.source.namespace``).
    """
    policy.require_dataset_source(who, team, body.source.namespace)
    record, outcome, changes = svc.sync_dataset(session, team=team, name=dataset, body=body)
    if outcome != "unchanged":
        audit.record(
            session,
            who,
            team=team,
            action="dataset.sync",
            resource=f"datasets/{record.name}",
            detail={
                "outcome": outcome,
                "source": body.source.model_dump(mode="json"),
                "changes": changes,
            },
        )
    if outcome == "created":
        response.status_code = 201
    return svc.dataset_read(record)
