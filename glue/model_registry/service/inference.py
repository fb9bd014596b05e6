"""Inference services: desired assignments, what each pod must serve, and observed pod state.

**Canary split.** An assignment's canary goes to ``canary_count(share, n)`` of the service's ``n``
*live* pods: those with a report newer than ``observed_ttl_seconds`` (the pods ``ServiceRead``
does not flag ``stale``), plus the pod asking. That is ``share x n`` rounded half up, at least one
pod and, with two pods or more, at most ``n - 1``: one pod always keeps the stable version, so
the gate has stable traffic to compare with. A service with a single live pod serves the canary
on it (a canary is asked for explicitly; holding it back would leave nothing to judge); the gate
then has no stable traffic and ``verify`` says so. Pods already observed with the canary version
(any state) keep it, the others are ranked by a SHA-256 of ``service/pod``: the choice is a
function of the live set and the observed state, so it does not flap, and a pod joining or
leaving moves no other pod unless the count itself changes (then one pod moves). A pod that
reports no model at all is not live (it serves nothing); it counts once it asks or reports one.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from glue.artifacts.manifest import Manifest
from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import Conflict, Invalid, NotFound
from glue.model_registry.models import utcnow
from glue.model_registry.service.common import page
from glue.model_registry.service.generations import bump_service
from glue.model_registry.service.models import get_model, model_query


def service_query(*, team: str, name: str) -> Select[orm.InferenceService]:
    """The query of service ``name`` of ``team`` (names are unique per team)."""
    return select(orm.InferenceService).where(
        orm.InferenceService.team == team, orm.InferenceService.name == name
    )


def get_service(
    session: Session, *, team: str, name: str, field: str = "path.service"
) -> orm.InferenceService:
    """One inference service of ``team``; ``NotFound`` otherwise."""
    service = session.scalar(service_query(team=team, name=name))
    if service is None:
        raise NotFound(f"inference service {name!r} does not exist in team {team!r}", field=field)
    return service


def _lock_model(session: Session, *, team: str, name: str, field: str) -> orm.Model:
    """The model row, locked until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite's
    write transactions are serial anyway): an alias move, which locks it too, cannot slip between
    checking a canary against the alias and committing it."""
    model = session.scalar(model_query(team=team, name=name).with_for_update())
    if model is None:
        raise NotFound(f"model {name!r} does not exist in team {team!r}", field=field)
    return model


def _alias_version(model: orm.Model, alias: str | None) -> int | None:
    return next((a.version.version for a in model.aliases if a.name == alias), None)


def check_canary(
    model: orm.Model, *, version: int | None, alias: str | None, canary: int, field: str
) -> None:
    """``Invalid`` naming ``field`` unless ``canary`` is newer than the primary (``version``, or
    what ``alias`` points at; an unset alias has nothing to compare with)."""
    primary = version if version is not None else _alias_version(model, alias)
    if primary is not None and canary <= primary:
        what = f"version {primary}" if version is not None else f"alias {alias!r} -> {primary}"
        raise Invalid(
            f"canary version {canary} of model {model.name!r} is not newer than the primary "
            f"({what}); a canary must be newer than what it is compared with",
            field=field,
        )


def _build_assignments(
    session: Session, *, team: str, assignments: list[schemas.Assignment], field: str
) -> list[orm.ServiceAssignment]:
    built: list[orm.ServiceAssignment] = []
    seen: set[str] = set()
    for index, item in enumerate(assignments):
        where = f"{field}[{index}]"
        if item.model in seen:
            raise Invalid(f"model {item.model!r} is assigned twice", field=f"{where}.model")
        seen.add(item.model)
        if item.canary_version is None:
            model = get_model(session, team=team, name=item.model, field=f"{where}.model")
        else:
            model = _lock_model(session, team=team, name=item.model, field=f"{where}.model")
        for key in ("version", "canary_version"):
            number = getattr(item, key)
            if number is not None and number > model.latest_version:
                raise Invalid(
                    f"model {item.model!r} has no version {number} (latest is "
                    f"{model.latest_version})",
                    field=f"{where}.{key}",
                )
        if item.canary_version is not None:
            check_canary(
                model,
                version=item.version,
                alias=item.alias,
                canary=item.canary_version,
                field=f"{where}.canary_version",
            )
        built.append(
            orm.ServiceAssignment(
                model_id=model.id,
                version=item.version,
                alias=item.alias,
                canary_version=item.canary_version,
                canary_share=item.canary_share,
            )
        )
    return built


def create_service(
    session: Session, *, team: str, body: schemas.ServiceCreate, exist_ok: bool
) -> tuple[orm.InferenceService, bool]:
    """Create a service of ``team`` with its initial assignments; returns ``(service, created)``.

    With ``exist_ok`` an existing service is returned untouched: infrastructure code creates
    the record when missing and never overwrites a promotion; but one whose ``service_account``
    differs from a given one is a ``Conflict`` (someone else created it first). Without
    ``exist_ok``: ``Conflict``.
    """
    existing = session.scalar(service_query(team=team, name=body.name))
    if existing is not None:
        claimed = body.service_account
        if exist_ok and claimed is not None and existing.service_account != claimed:
            raise Conflict(
                f"inference service {body.name!r} exists with service_account "
                f"{existing.service_account!r}, not {claimed!r}; a service's account is set "
                "when it is created",
                field="body.service_account",
            )
        if exist_ok:
            return existing, False
        raise Conflict(
            f"inference service {body.name!r} already exists in team {team!r}", field="body.name"
        )
    service = orm.InferenceService(
        name=body.name,
        team=team,
        description=body.description,
        service_account=body.service_account,
    )
    service.assignments = _build_assignments(
        session, team=team, assignments=body.assignments, field="body.assignments"
    )
    session.add(service)
    session.flush()
    return service, True


def set_assignments(
    session: Session, *, team: str, name: str, body: schemas.AssignmentsSet
) -> orm.InferenceService:
    """Replace a service's desired assignments; a model's record of a cleared canary stays
    while its new assignment sets no canary."""
    service = get_service(session, team=team, name=name)
    new = _build_assignments(
        session, team=team, assignments=body.assignments, field="body.assignments"
    )
    previous = {a.model_id: a for a in service.assignments}
    for row in new:
        old = previous.get(row.model_id)
        if old is not None and row.canary_version is None:
            row.canary_cleared_version = old.canary_cleared_version
            row.canary_cleared_reason = old.canary_cleared_reason
            row.canary_cleared_at = old.canary_cleared_at
    service.assignments.clear()
    session.flush()
    service.assignments.extend(new)
    session.flush()  # the database raises the service's generation (migration 0006)
    return service


def list_services(
    session: Session, *, team: str, limit: int, offset: int
) -> tuple[list[orm.InferenceService], int]:
    """The team's services ordered by name."""
    query = (
        select(orm.InferenceService)
        .where(orm.InferenceService.team == team)
        .order_by(orm.InferenceService.name)
    )
    return page(session, query, limit=limit, offset=offset)


def _resolve(assignment: orm.ServiceAssignment) -> int | None:
    if assignment.version is not None:
        return assignment.version
    for alias in assignment.model.aliases:
        if alias.name == assignment.alias:
            return alias.version.version
    return None


def _assignment(
    service: orm.InferenceService, model: str, *, field: str = "path.model"
) -> orm.ServiceAssignment:
    found = next((a for a in service.assignments if a.model.name == model), None)
    if found is None:
        raise NotFound(
            f"service {service.name!r} has no assignment of model {model!r}", field=field
        )
    return found


def set_canary(
    session: Session, *, team: str, name: str, model: str, body: schemas.CanarySet
) -> orm.InferenceService:
    """Serve ``body.version`` to ``body.share`` of the service's pods (replaces a canary).

    ``NotFound`` if the model is not assigned; ``Invalid`` naming ``body.version`` if the model
    has no such version or it is not newer than the resolved primary.
    """
    service = get_service(session, team=team, name=name)
    row = _assignment(service, model)
    locked = _lock_model(session, team=team, name=model, field="path.model")
    if body.version > locked.latest_version:
        raise Invalid(
            f"model {model!r} has no version {body.version} (latest is {locked.latest_version})",
            field="body.version",
        )
    check_canary(
        locked, version=row.version, alias=row.alias, canary=body.version, field="body.version"
    )
    row.canary_version, row.canary_share = body.version, body.share
    row.canary_cleared_version = row.canary_cleared_reason = row.canary_cleared_at = None
    session.flush()
    return service


def _clear(row: orm.ServiceAssignment, reason: str) -> int | None:
    """Take ``row``'s canary away, recording which and why; returns the version (None: none)."""
    cleared = row.canary_version
    if cleared is not None:
        row.canary_cleared_version, row.canary_cleared_reason = cleared, reason
        row.canary_cleared_at = utcnow()
        row.canary_version = row.canary_share = None
    return cleared


def clear_canary(
    session: Session, *, team: str, name: str, model: str, reason: str
) -> tuple[orm.InferenceService, int | None]:
    """Stop serving the model's canary (rollback); returns the service and the cleared version
    (None when there was no canary: nothing changes). ``NotFound`` if the model is not
    assigned."""
    service = get_service(session, team=team, name=name)
    cleared = _clear(_assignment(service, model), reason)
    session.flush()
    return service, cleared


def clear_stale_canaries(
    session: Session, *, model: orm.Model, alias: str, version: int, reason: str
) -> list[tuple[orm.InferenceService, int]]:
    """After ``alias`` of ``model`` moved to ``version``: clear every canary of an assignment
    following that alias that is not newer than ``version`` (in the caller's transaction);
    returns ``(service, cleared version)`` of each."""
    rows = session.scalars(
        select(orm.ServiceAssignment).where(
            orm.ServiceAssignment.model_id == model.id,
            orm.ServiceAssignment.alias == alias,
            orm.ServiceAssignment.canary_version <= version,
        )
    )
    cleared = [(row.service, _clear(row, reason)) for row in rows]
    session.flush()
    return [(service, number) for service, number in cleared if number is not None]


def canary_status(assignment: orm.ServiceAssignment) -> schemas.CanaryStatus | None:
    """``active``, ``stale`` (not newer than the resolved primary), ``cleared`` or None."""
    if assignment.canary_version is not None:
        primary = _resolve(assignment)
        return "stale" if primary is not None and assignment.canary_version <= primary else "active"
    return "cleared" if assignment.canary_cleared_version is not None else None


def canary_count(share: float, pods: int) -> int:
    """How many of ``pods`` live pods serve a canary of ``share`` (0 < share < 1): ``share x
    pods`` rounded half up (decimal, as written: 0.5 x 5 -> 3), at least 1, and at most
    ``pods - 1`` when ``pods`` >= 2. One pod: 1 (it serves the canary); none: 0."""
    if pods <= 1:
        return max(pods, 0)
    wanted = int((Decimal(repr(share)) * pods).to_integral_value(rounding=ROUND_HALF_UP))
    return min(max(wanted, 1), pods - 1)


def pod_rank(service: str, pod: str) -> bytes:
    """A pod's place in the canary order of ``service`` (lowest first): SHA-256 of
    ``service/pod``, the same on every replica of the registry and across restarts."""
    return hashlib.sha256(f"{service}/{pod}".encode()).digest()


def canary_pods(
    *, service: str, live: Iterable[str], serving: Iterable[str], share: float
) -> frozenset[str]:
    """The pods of ``live`` that serve the canary: ``canary_count(share, len(live))`` of them,
    pods in ``serving`` (observed with the canary version) first, then by ``pod_rank``."""
    pods = set(live)
    current = set(serving) & pods
    ranked = sorted(pods, key=lambda p: (p not in current, pod_rank(service, p), p))
    return frozenset(ranked[: canary_count(share, len(pods))])


@dataclass(frozen=True)
class LiveState:
    """A service's fresh observed state: the live ``pods`` and, per (model, version), each
    live pod's reported state."""

    pods: frozenset[str] = frozenset()
    states: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[orm.ObservedModel], cutoff: datetime | None) -> LiveState:
        """From a service's observed rows; those reported before ``cutoff`` are left out."""
        pods: set[str] = set()
        states: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        for row in rows:
            if not is_stale(row, cutoff):
                pods.add(row.pod)
                states[(row.model, row.version)][row.pod] = row.state
        return cls(frozenset(pods), dict(states))

    def observing(self, model: str, version: int | None, *, ready: bool = False) -> set[str]:
        """The live pods that report ``version`` of ``model`` (only READY ones: ``ready``)."""
        found = self.states.get((model, version), {}) if version is not None else {}
        return {pod for pod, state in found.items() if state == "READY" or not ready}


def _observed_rows(session: Session, service: orm.InferenceService) -> Sequence[orm.ObservedModel]:
    return session.scalars(
        select(orm.ObservedModel)
        .where(orm.ObservedModel.service_id == service.id)
        .order_by(orm.ObservedModel.pod, orm.ObservedModel.model, orm.ObservedModel.version)
    ).all()


def serves_canary(
    assignment: orm.ServiceAssignment, *, service: str, pod: str, live: LiveState
) -> bool:
    """Whether ``pod`` (live, or asking) serves the assignment's canary: an active one, and
    ``pod`` among ``canary_pods`` of the live pods and ``pod``."""
    if (
        assignment.canary_version is None
        or assignment.canary_share is None
        or canary_status(assignment) != "active"  # a stale canary is never handed out
    ):
        return False
    chosen = canary_pods(
        service=service,
        live=live.pods | {pod},
        serving=live.observing(assignment.model.name, assignment.canary_version),
        share=assignment.canary_share,
    )
    return pod in chosen


def desired_state(
    session: Session, *, team: str, name: str, pod: str, ttl_seconds: float = 0
) -> schemas.DesiredState:
    """What ``pod`` must serve: one version per assigned model, aliases resolved; the canary
    only to the pods of its share of the live pods (reports newer than ``ttl_seconds``, 0: all,
    plus ``pod``; see the module's docstring), and never one that is not newer than the resolved
    primary."""
    return desired_state_until(session, team=team, name=name, pod=pod, ttl_seconds=ttl_seconds)[0]


def desired_state_until(
    session: Session, *, team: str, name: str, pod: str, ttl_seconds: float = 0
) -> tuple[schemas.DesiredState, datetime | None]:
    """``desired_state`` and until when it holds without any write: None (until a write) unless
    a canary is active, then the moment the first live pod's report goes stale (the live set
    shrinks with time alone), ``ttl_seconds`` after it was reported."""
    service = get_service(session, team=team, name=name)
    observed = _observed_rows(session, service)
    cutoff = stale_before(ttl_seconds)
    live = LiveState.of(observed, cutoff)
    until = None
    if ttl_seconds > 0 and any(canary_status(a) == "active" for a in service.assignments):
        fresh = [row.reported_at for row in observed if not is_stale(row, cutoff)]
        until = min(fresh) + timedelta(seconds=ttl_seconds) if fresh else None
    wanted: list[schemas.DesiredVersion] = []
    unresolved: list[str] = []
    for assignment in service.assignments:
        number = _resolve(assignment)
        role: Literal["primary", "canary"] = "primary"
        if serves_canary(assignment, service=name, pod=pod, live=live):
            number, role = assignment.canary_version, "canary"
        if number is None:
            unresolved.append(assignment.model.name)
            continue
        version = session.scalar(
            select(orm.ModelVersion).where(
                orm.ModelVersion.model_id == assignment.model_id,
                orm.ModelVersion.version == number,
            )
        )
        if version is None:
            unresolved.append(assignment.model.name)
            continue
        wanted.append(
            schemas.DesiredVersion(
                model=assignment.model.name,
                version=number,
                role=role,
                artifact_uri=version.artifact_uri,
                manifest=Manifest.model_validate(version.manifest),
            )
        )
    state = schemas.DesiredState(service=name, pod=pod, models=wanted, unresolved=unresolved)
    return state, until


def report_pod_status(
    session: Session,
    *,
    team: str,
    name: str,
    pod: str,
    body: schemas.PodStatusReport,
    ttl_seconds: float = 0,
) -> orm.InferenceService:
    """Replace everything recorded for ``pod`` with the report (one transaction).

    Rows of versions the pod still reports are updated in place (state, error, time), others
    inserted or deleted. While the service has a canary, the canary's pods depend on the live
    pods and on what they serve: the database raises the service's generation when a row is
    inserted or deleted (migration 0006), so a steady heartbeat (same versions) changes nothing
    the read path checks. A report that makes the pod live again after its rows went stale
    (older than ``ttl_seconds``) raises it here (the database does not know the TTL).
    """
    service = get_service(session, team=team, name=name)
    reported: dict[tuple[str, int], schemas.ObservedModel] = {}
    for index, item in enumerate(body.models):
        key = (item.model, item.version)
        if key in reported:
            raise Invalid(
                f"model {item.model!r} version {item.version} is reported twice",
                field=f"body.models[{index}]",
            )
        reported[key] = item
    rows = {
        (row.model, row.version): row
        for row in session.scalars(
            select(orm.ObservedModel).where(
                orm.ObservedModel.service_id == service.id, orm.ObservedModel.pod == pod
            )
        )
    }
    cutoff = stale_before(ttl_seconds)
    if rows and all(is_stale(row, cutoff) for row in rows.values()):
        bump_service(session, service.id)
    now = utcnow()
    for key, gone in rows.items():
        if key not in reported:
            session.delete(gone)
    session.flush()
    for key, item in reported.items():
        row = rows.get(key)
        if row is None:
            session.add(
                orm.ObservedModel(
                    service_id=service.id,
                    pod=pod,
                    model=item.model,
                    version=item.version,
                    state=item.state,
                    error=item.error,
                    reported_at=now,
                )
            )
        else:
            row.state, row.error, row.reported_at = item.state, item.error, now
    session.flush()
    return service


def forget_pod(session: Session, *, team: str, name: str, pod: str) -> int:
    """Remove a pod's observed rows (pod deleted); returns how many were removed (the database
    raises the service's generation when it has a canary, migration 0006)."""
    service = get_service(session, team=team, name=name)
    rows = list(
        session.scalars(
            select(orm.ObservedModel).where(
                orm.ObservedModel.service_id == service.id, orm.ObservedModel.pod == pod
            )
        )
    )
    for row in rows:
        session.delete(row)
    return len(rows)


def stale_before(ttl_seconds: float) -> datetime | None:
    """Reports older than this are stale (None: ``ttl_seconds`` 0, nothing is stale)."""
    return utcnow() - timedelta(seconds=ttl_seconds) if ttl_seconds > 0 else None


def is_stale(row: orm.ObservedModel, cutoff: datetime | None) -> bool:
    """Whether ``row`` was reported before ``cutoff`` (``stale_before``)."""
    return cutoff is not None and row.reported_at < cutoff


def _resolved_assignment(a: orm.ServiceAssignment, live: LiveState) -> schemas.ResolvedAssignment:
    resolved = _resolve(a)
    return schemas.ResolvedAssignment(
        model=a.model.name,
        version=a.version,
        alias=a.alias,
        canary_version=a.canary_version,
        canary_share=a.canary_share,
        resolved_version=resolved,
        canary_status=canary_status(a),
        canary_cleared=(
            schemas.CanaryCleared(
                version=a.canary_cleared_version,
                reason=a.canary_cleared_reason or "",
                at=a.canary_cleared_at,
            )
            if a.canary_cleared_version is not None and a.canary_cleared_at is not None
            else None
        ),
        canary_pods=len(live.observing(a.model.name, a.canary_version, ready=True)),
        stable_pods=len(live.observing(a.model.name, resolved, ready=True)),
    )


def service_read(
    session: Session, service: orm.InferenceService, *, ttl_seconds: float = 0
) -> schemas.ServiceRead:
    """API view: assignments (aliases resolved, canaries flagged ``stale``/``cleared``, how many
    live pods serve the canary and the stable version READY) and every pod's observed state.

    Reports older than ``ttl_seconds`` (0: never) carry ``stale=True`` and are not counted.
    """
    cutoff = stale_before(ttl_seconds)
    observed = _observed_rows(session, service)
    live = LiveState.of(observed, cutoff)
    return schemas.ServiceRead(
        name=service.name,
        team=service.team,
        description=service.description,
        service_account=service.service_account,
        created_at=service.created_at,
        assignments=[_resolved_assignment(a, live) for a in service.assignments],
        observed=[
            schemas.ObservedModelRead(
                model=o.model,
                version=o.version,
                state=o.state,
                error=o.error,
                pod=o.pod,
                reported_at=o.reported_at,
                stale=is_stale(o, cutoff),
            )
            for o in observed
        ],
    )


def deployments(
    session: Session,
    *,
    team: str,
    model_name: str,
    version: int | None,
    state: str | None,
    limit: int,
    offset: int,
    ttl_seconds: float = 0,
) -> tuple[list[orm.ObservedModel], int]:
    """Observed pods serving ``model_name`` (optionally one version / one state).

    Reports older than ``ttl_seconds`` (0: keep all) are left out: those pods stopped reporting.
    """
    get_model(session, team=team, name=model_name)
    query = (
        select(orm.ObservedModel)
        .join(orm.InferenceService)
        .where(orm.InferenceService.team == team, orm.ObservedModel.model == model_name)
        .order_by(orm.InferenceService.name, orm.ObservedModel.pod, orm.ObservedModel.version)
    )
    if version is not None:
        query = query.where(orm.ObservedModel.version == version)
    if state is not None:
        query = query.where(orm.ObservedModel.state == state)
    cutoff = stale_before(ttl_seconds)
    if cutoff is not None:
        query = query.where(orm.ObservedModel.reported_at >= cutoff)
    return page(session, query, limit=limit, offset=offset)


def deployment_read(row: orm.ObservedModel) -> schemas.Deployment:
    """API view of one observed (service, pod, model, version)."""
    return schemas.Deployment(
        service=row.service.name,
        pod=row.pod,
        model=row.model,
        version=row.version,
        state=row.state,
        error=row.error,
        reported_at=row.reported_at,
    )
