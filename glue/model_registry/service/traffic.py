"""Per-version traffic of a service: the request counters pods report, and their window sums.

Each pod report may carry, per model version, Triton's cumulative counters (``TrafficCounters``);
they are stored as ``traffic_samples`` stamped with the registry's clock and kept
``TRAFFIC_RETENTION_S`` seconds. A report's counters must be of versions the same report
observes (its ``models``), of models assigned to the service (``check``): so a version's traffic
is only ever summed from pods that served it, and a stable pod cannot dilute a canary's figures.
A window's figures per version are summed over pods:

- requests/failures: the increase of each pod's counters over the window, from its last sample
  before the window (or its first one inside it) to its last one inside; a counter that went
  down restarted (Triton restarted or reloaded the version) and counts from 0 again, as
  Prometheus' ``increase`` does;
- mean latency: the increase of the duration counter over the increase of requests (exact);
- p99: the largest p99 a pod reported within the window. Triton computes it over its own
  sliding summary window; the p99 of all the pods' requests together is never above the
  largest per-pod p99, so the figure is a sound upper bound (exact for one pod and one sample).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import Invalid
from glue.model_registry.models import utcnow
from glue.model_registry.service.inference import get_service


def check(service: orm.InferenceService, report: schemas.PodStatusReport) -> None:
    """``Invalid`` naming ``body.traffic[i]`` unless every traffic entry of ``report`` is of a
    model assigned to ``service``, a registered version of it, and one the report's ``models``
    list (the pod observes it)."""
    observed = {(m.model, m.version) for m in report.models}
    assigned = {a.model.name: a.model for a in service.assignments}
    for index, item in enumerate(report.traffic):
        where = f"body.traffic[{index}]"
        what = f"traffic of model {item.model!r} version {item.version}"
        model = assigned.get(item.model)
        if model is None:
            raise Invalid(
                f"{what}: service {service.name!r} has no assignment of model {item.model!r}",
                field=where,
            )
        if item.version > model.latest_version:
            raise Invalid(
                f"{what}: model {item.model!r} has no version {item.version} (latest is "
                f"{model.latest_version})",
                field=where,
            )
        if (item.model, item.version) not in observed:
            raise Invalid(
                f"{what}: the report's models do not observe that version; a pod reports "
                "traffic only of the versions it serves",
                field=where,
            )


def record(
    session: Session,
    *,
    service: orm.InferenceService,
    pod: str,
    samples: list[schemas.TrafficCounters],
) -> None:
    """Store one report's counters of ``pod`` and drop the pod's samples past retention."""
    now = utcnow()
    session.execute(
        delete(orm.TrafficSample).where(
            orm.TrafficSample.service_id == service.id,
            orm.TrafficSample.pod == pod,
            orm.TrafficSample.at < now - timedelta(seconds=schemas.TRAFFIC_RETENTION_S),
        )
    )
    for sample in samples:
        session.add(
            orm.TrafficSample(
                service_id=service.id,
                pod=pod,
                model=sample.model,
                version=sample.version,
                at=now,
                success=sample.success,
                failure=sample.failure,
                duration_us=sample.duration_us,
                p99_us=sample.p99_us,
            )
        )
    session.flush()


def increase(values: list[int]) -> int:
    """How much a cumulative counter grew over ``values`` (in time order); a decrease is a
    restart from 0 (the new value is all growth)."""
    return sum(b - a if b >= a else b for a, b in pairwise(values))


@dataclass
class _Sums:
    requests: int = 0
    failures: int = 0
    duration_us: int = 0
    p99_us: float | None = None


def _series_sums(rows: list[orm.TrafficSample], start: datetime) -> _Sums | None:
    """One pod's figures of one version from its samples (time order); None when none of them
    lies in the window."""
    inside = [r for r in rows if r.at >= start]
    if not inside:
        return None
    before = [r for r in rows if r.at < start][-1:]
    series = before + inside
    success = increase([r.success for r in series])
    failures = increase([r.failure for r in series])
    p99s = [r.p99_us for r in inside if r.p99_us is not None]
    return _Sums(
        requests=success + failures,
        failures=failures,
        duration_us=increase([r.duration_us for r in series]),
        p99_us=max(p99s) if p99s else None,
    )


def window(
    session: Session,
    *,
    team: str,
    name: str,
    model: str,
    window_s: float,
    until: datetime | None = None,
) -> schemas.TrafficRead:
    """Per-version traffic of ``model`` on service ``name`` over ``window_s`` seconds up to
    ``until`` (default now). ``NotFound`` if the service does not exist."""
    service = get_service(session, team=team, name=name)
    end = until or utcnow()
    start = end - timedelta(seconds=window_s)
    rows = session.scalars(
        select(orm.TrafficSample)
        .where(
            orm.TrafficSample.service_id == service.id,
            orm.TrafficSample.model == model,
            orm.TrafficSample.at <= end,
        )
        .order_by(orm.TrafficSample.at, orm.TrafficSample.id)
    )
    series: dict[tuple[int, str], list[orm.TrafficSample]] = defaultdict(list)
    for row in rows:
        series[(row.version, row.pod)].append(row)
    per_version: dict[int, list[tuple[str, _Sums]]] = defaultdict(list)
    for (version, pod), samples in series.items():
        sums = _series_sums(samples, start)
        if sums is not None:
            per_version[version].append((pod, sums))
    versions = []
    for version, pods in sorted(per_version.items()):
        requests = sum(s.requests for _, s in pods)
        failures = sum(s.failures for _, s in pods)
        duration = sum(s.duration_us for _, s in pods)
        p99s = [s.p99_us for _, s in pods if s.p99_us is not None]
        versions.append(
            schemas.VersionTraffic(
                version=version,
                requests=requests,
                failures=failures,
                error_ratio=failures / requests if requests else None,
                p99_ms=max(p99s) / 1000 if p99s else None,
                mean_ms=duration / requests / 1000 if requests else None,
                pods=sorted(pod for pod, _ in pods),
            )
        )
    return schemas.TrafficRead(
        service=name, model=model, window_s=window_s, until=end, versions=versions
    )
