"""Helpers every service module shares: pagination, the artifact URI check and the mapping of
artifact store errors onto registry problems."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from glue.artifacts.errors import (
    ArtifactError,
    InvalidArtifactURI,
    StorageMisconfigured,
    StorageUnavailable,
)
from glue.artifacts.store import ArtifactStore
from glue.model_registry import artifact_scope
from glue.model_registry.errors import (
    Invalid,
    RegistryProblem,
    StorageNotConfigured,
    Unavailable,
)


def page(session: Session, query: Select[Any], *, limit: int, offset: int) -> tuple[list[Any], int]:
    """One page of ``query``'s rows (``limit`` from ``offset``) and the total row count."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.scalars(query.limit(limit).offset(offset)).unique())
    return rows, total


def page_of(items: Sequence[Any], total: int, *, limit: int, offset: int) -> dict[str, Any]:
    """A ``schemas.Page`` body: ``next_offset`` is None when nothing follows."""
    following = offset + len(items)
    return {
        "items": list(items),
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < total else None,
    }


def check_artifact_uri(
    *, store: ArtifactStore, uri: str, field: str, prefixes: Sequence[str] = ()
) -> str:
    """The normalised ``uri`` (``ArtifactStore.check_uri``: scheme lower-cased, ``file://`` paths
    resolved) that the registry stores, so every spelling of one artifact is the same artifact;
    ``Invalid`` naming ``field`` if not an artifact URI this registry may use (scheme, bucket,
    escape from the local root...), or, when ``prefixes`` are given (the team's, rendered by
    ``artifact_scope.render``), if it lies below none of them."""
    try:
        normalised = store.check_uri(uri)
    except InvalidArtifactURI as exc:
        raise Invalid(str(exc), field=field) from exc
    if not prefixes:
        return normalised
    allowed = []
    for prefix in prefixes:
        with suppress(InvalidArtifactURI):  # a prefix of a scheme this store refuses
            allowed.append(store.check_uri(prefix))
    if not artifact_scope.is_below(normalised, allowed):
        shown = ", ".join(f"{p}/" for p in allowed or prefixes)
        raise Invalid(
            f"{field} {normalised} lies outside the team's artifact prefixes ({shown}); write "
            "the artifact below one of them (KUBEAI_REGISTRY_ARTIFACT_TEAM_PREFIXES)",
            field=field,
        )
    return normalised


def check_body_team(body_team: str | None, team: str) -> None:
    """``Invalid`` naming ``body.team`` when a body names another team than its path."""
    if body_team is not None and body_team != team:
        raise Invalid(
            f"body.team is {body_team!r} but the path's team is {team!r}; leave it out or make "
            "them equal",
            field="body.team",
        )


def artifact_problem(exc: ArtifactError, *, field: str) -> RegistryProblem:
    """The registry problem for an artifact store error about the input at ``field``.

    ``StorageUnavailable`` (a transient outage) is ``Unavailable`` (503, retry later);
    ``StorageMisconfigured`` (the deployment cannot serve this storage: the detail names the
    setting) is ``StorageNotConfigured`` (422); anything else concerns the URI or the artifact
    the client sent and is ``Invalid`` (422).
    """
    if isinstance(exc, StorageUnavailable):
        return Unavailable(f"artifact storage unreachable: {exc}", field=field)
    if isinstance(exc, StorageMisconfigured):
        return StorageNotConfigured(
            f"{exc} (to fix: {exc.setting}; retrying will not help)", field=field
        )
    return Invalid(str(exc), field=field)
