"""Generation counters: the cheap check of whether a cached read of the read path is still valid.

The desired state a pod is told to serve (``GET .../services/{s}/desired``) depends on the
service's assignments and canaries, the aliases they follow, the version rows they resolve to
and, for a canary, the set of live pods. Alias resolution (``GET .../models/{m}/versions/{ref}``)
depends on the model's aliases and versions. Instead of recomputing either on every request, a
reader compares a *token* read in one indexed query:

- a service's token: ``(service id, service generation, (model id, model generation, model
  latest_version) per assignment)``;
- a model's token: ``(model id, model generation, latest_version)``.

The database raises the counters itself, in the transaction of every write that can change
such an answer (triggers of migration 0006: an alias or version row of the model, an
assignment or canary of the service, a pod row inserted or deleted while the service has a
canary), so old replicas during a rolling upgrade and direct SQL invalidate too; registering a
version raises ``models.latest_version``. ``bump_service`` is left for what the database cannot
judge (a pod live again after its report went stale: the TTL is a setting). Reads never write.
A token that did not change means the answer did not, except for the passage of time (a live pod
going stale, which only matters to a canary): the reader bounds a cached answer's life for that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Select, bindparam, select, tuple_, update
from sqlalchemy.orm import Session

from glue.model_registry import models as orm

#: A token: equal tokens mean the answer they cover is unchanged (see the module docstring).
Token = tuple[Any, ...]

_SERVICE_TOKEN = (
    select(
        orm.InferenceService.id,
        orm.InferenceService.generation,
        orm.Model.id,
        orm.Model.generation,
        orm.Model.latest_version,
    )
    .select_from(orm.InferenceService)
    .outerjoin(orm.ServiceAssignment, orm.ServiceAssignment.service_id == orm.InferenceService.id)
    .outerjoin(orm.Model, orm.Model.id == orm.ServiceAssignment.model_id)
)
_MODEL_TOKEN = select(
    orm.Model.team, orm.Model.name, orm.Model.id, orm.Model.generation, orm.Model.latest_version
)
_ONE_SERVICE = _SERVICE_TOKEN.where(
    orm.InferenceService.team == bindparam("team"), orm.InferenceService.name == bindparam("name")
).order_by(orm.ServiceAssignment.id)
_ONE_MODEL = _MODEL_TOKEN.where(
    orm.Model.team == bindparam("team"), orm.Model.name == bindparam("name")
)


def _service_token(rows: Iterable[Any]) -> Token | None:
    rows = list(rows)
    if not rows:
        return None
    service_id, generation = rows[0][0], rows[0][1]
    return (service_id, generation, tuple((r[2], r[3], r[4]) for r in rows if r[2] is not None))


def _model_token(rows: Iterable[Any]) -> Token | None:
    row = next(iter(rows), None)
    return None if row is None else (row[2], row[3], row[4])


@dataclass(frozen=True)
class TokenQuery:
    """The query of one kind of token (parameters ``team`` and ``name``) and how its rows fold
    into the token. ``sql(dialect)`` is its text for a DBAPI cursor (compiled once per dialect),
    for callers that skip SQLAlchemy's execution layer on the hot path."""

    statement: Select[*tuple[Any, ...]]
    fold: Callable[[Iterable[Any]], Token | None]

    def __call__(self, connection: Connection, *, team: str, name: str) -> Token | None:
        """The token on a SQLAlchemy ``connection`` (None: no such resource)."""
        return self.fold(connection.execute(self.statement, {"team": team, "name": name}))

    def sql(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
        """``(text, positional parameter names or None for named ones)`` for ``dialect``."""
        return _compiled(self, dialect)


@functools.cache
def _compiled(query: TokenQuery, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    compiled = query.statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    return str(compiled), names


#: Token of service ``name`` of ``team`` (None: no such service). One query.
service_token = TokenQuery(_ONE_SERVICE, _service_token)
#: Token of model ``name`` of ``team`` (None: no such model). One query.
model_token = TokenQuery(_ONE_MODEL, _model_token)


def service_tokens(
    connection: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Token]:
    """Tokens of many ``(team, name)`` services in one query (missing services are absent)."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    query = (
        _SERVICE_TOKEN.add_columns(orm.InferenceService.team, orm.InferenceService.name)
        .where(tuple_(orm.InferenceService.team, orm.InferenceService.name).in_(wanted))
        .order_by(orm.InferenceService.id, orm.ServiceAssignment.id)
    )
    grouped: dict[tuple[str, str], list[Any]] = {}
    for row in connection.execute(query):
        grouped.setdefault((row[5], row[6]), []).append(row)
    return {key: token for key, rows in grouped.items() if (token := _service_token(rows))}


def model_tokens(
    connection: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Token]:
    """Tokens of many ``(team, name)`` models in one query (missing models are absent)."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    query = _MODEL_TOKEN.where(tuple_(orm.Model.team, orm.Model.name).in_(wanted))
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in connection.execute(query)}


def bump_service(session: Session, service_id: int) -> None:
    """Raise the service's generation by one, in ``session``'s transaction."""
    session.execute(
        update(orm.InferenceService)
        .where(orm.InferenceService.id == service_id)
        .values(generation=orm.InferenceService.generation + 1)
        .execution_options(synchronize_session=False)
    )
