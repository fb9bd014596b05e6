"""Routes of ``/api/v1/datasets``: record (idempotent), list and read datasets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from glue.model_registry import schemas
from glue.model_registry.api import API_PREFIX
from glue.model_registry.api.params import DatasetName, Offset, Team
from glue.model_registry.deps import Limit, Reader, Store, Writer
from glue.model_registry.service import datasets as svc
from glue.model_registry.service.common import check_artifact_uri, page_of

router = APIRouter(prefix=API_PREFIX, tags=["datasets"])


@router.post("/datasets", status_code=201, response_model=schemas.DatasetRead)
def register_dataset(
    body: schemas.DatasetCreate, response: Response, session: Writer, store: Store
) -> Any:
    """Record a dataset; the same name and manifest again returns it (200)."""
    uri = check_artifact_uri(store=store, uri=body.uri, field="body.uri")
    body = body.model_copy(update={"uri": uri})
    dataset, created = svc.register_dataset(session, body=body)
    if not created:
        response.status_code = 200
    return svc.dataset_read(dataset)


@router.get("/datasets", response_model=schemas.Page[schemas.DatasetRead])
def list_datasets(session: Reader, limit: Limit, team: Team = None, offset: Offset = 0) -> Any:
    """Datasets ordered by name."""
    rows, total = svc.list_datasets(session, team=team, limit=limit, offset=offset)
    return page_of([svc.dataset_read(d) for d in rows], total, limit=limit, offset=offset)


@router.get("/datasets/{dataset}", response_model=schemas.DatasetRead)
def get_dataset(dataset: DatasetName, session: Reader) -> Any:
    """One dataset."""
    return svc.dataset_read(svc.get_dataset(session, name=dataset))
