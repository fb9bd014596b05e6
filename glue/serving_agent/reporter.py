"""The agent's reporter: what the pod serves, telling the registry, and when to try again.

The pod's observed state is built from Triton's repository index (versions READY, LOADING or
UNLOADING) plus the desired versions that are not served: FAILED with the error when installing
or loading them failed, UNAVAILABLE with Triton's reason when Triton holds them unavailable. It
is sent to the registry (PUT, full state) on every reconcile, even when nothing changed: the
report doubles as a heartbeat. A report the registry could not be reached for is kept
(``unreported``) and sent first on the next reconcile; one the registry refused is dropped.

Timing: a failed version is retried with exponential backoff (``backoff_initial`` doubling up to
``backoff_max``); while the registry or tritonserver is unreachable, reconciles back off the
same way; otherwise the agent polls every ``poll_interval`` seconds, sooner when a retry is due.
When the agent stops, the registry is asked to forget the pod (best effort).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from structlog.typing import FilteringBoundLogger

from glue.artifacts.errors import (
    ArtifactError,
    ArtifactNotFound,
    ChecksumMismatch,
    InvalidArtifactURI,
    StorageUnavailable,
)
from glue.model_registry.client import RegistryClient, RegistryError, RegistryUnavailable
from glue.model_registry.schemas import (
    DNS1123_LABEL,
    DesiredState,
    ModelState,
    ObservedModel,
    PodStatusReport,
    TrafficCounters,
)
from glue.serving_agent.disk import InsufficientSpace
from glue.serving_agent.metrics import AgentMetrics
from glue.text import escape_controls
from glue.triton.layout import LayoutError
from glue.triton.repository import SERVING_STATES, RepositoryEntry, TritonLoadError

#: Longest error text sent to the registry (its schema allows 4096 characters).
MAX_ERROR_CHARS = 4000
AGENT_NAME = "kubeai-serving-agent"
_NAME = re.compile(DNS1123_LABEL)

#: ``(model, version)``.
Key = tuple[str, int]


#: Failure labels by exception type, first match wins (subclasses before their bases).
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ChecksumMismatch, "checksum_mismatch"),
    (ArtifactNotFound, "artifact_not_found"),
    (StorageUnavailable, "storage_unavailable"),
    (InvalidArtifactURI, "invalid_uri"),
    (ArtifactError, "artifact_error"),
    (LayoutError, "layout"),
    (InsufficientSpace, "no_space"),
)


def failure_reason(exc: BaseException) -> str:
    """Short, stable label for a failure (the ``reason`` label of the failures counter).

    One of ``checksum_mismatch``, ``artifact_not_found``, ``storage_unavailable``,
    ``invalid_uri``, ``artifact_error``, ``layout``, ``no_space``, ``not_ready``,
    ``load_refused``, ``io``.
    """
    if isinstance(exc, TritonLoadError):
        return "not_ready" if exc.timed_out else "load_refused"
    return next((label for kind, label in _REASONS if isinstance(exc, kind)), "io")


def backoff_delay(attempts: int, initial: float, maximum: float) -> float:
    """Seconds to wait after the ``attempts``-th failure in a row (1, 2, ...).

    ``initial`` doubling per attempt, capped at ``maximum``; ``attempts`` below 1 count as 1.
    """
    return float(min(maximum, initial * 2 ** (max(attempts, 1) - 1)))


@dataclass
class Failure:
    """A desired version that could not be served, and when to try it again.

    Attributes:
        reason: ``failure_reason`` label.
        error: the error text.
        attempts: failed attempts in a row.
        next_attempt: clock time (seconds) from which it is tried again.
    """

    reason: str
    error: str
    attempts: int
    next_attempt: float


class Reporter:
    """Builds and sends the pod's status reports and schedules retries for one pod.

    Args:
        registry: registry client.
        service: the inference service's name.
        pod: this pod's name.
        metrics: the agent's metrics (``served_version``, ``load_failures``,
            ``registry_errors``).
        log: logger bound to the agent's service and pod.
        poll_interval: seconds between reconciles when all is well.
        backoff_initial, backoff_max: first retry delay after a failure, and its cap (seconds).
        clock: monotonic clock in seconds that schedules retries.
    """

    def __init__(
        self,
        registry: RegistryClient,
        *,
        service: str,
        pod: str,
        metrics: AgentMetrics,
        log: FilteringBoundLogger,
        poll_interval: float,
        backoff_initial: float,
        backoff_max: float,
        clock: Callable[[], float],
    ) -> None:
        self.registry = registry
        self.service = service
        self.pod = pod
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._clock = clock
        self._log = log
        self._failures: dict[Key, Failure] = {}
        self._unreported: PodStatusReport | None = None
        self._last_report: PodStatusReport | None = None
        self._outage_count = 0

    @property
    def last_report(self) -> PodStatusReport | None:
        """The observed state built last (sent or not)."""
        return self._last_report

    @property
    def unreported(self) -> PodStatusReport | None:
        """The latest report the registry has not received yet (None when it has)."""
        return self._unreported

    # -- failed versions ------------------------------------------------------------------------

    def record_failure(
        self, model: str, number: int, exc: BaseException, log: FilteringBoundLogger
    ) -> None:
        """Record a failed attempt at serving ``number``: count it and schedule the retry."""
        reason = failure_reason(exc)
        previous = self._failures.get((model, number))
        attempts = (previous.attempts if previous else 0) + 1
        delay = backoff_delay(attempts, self.backoff_initial, self.backoff_max)
        self._failures[(model, number)] = Failure(
            reason=reason, error=str(exc), attempts=attempts, next_attempt=self._clock() + delay
        )
        self.metrics.load_failures.labels(model=model, reason=reason).inc()
        log.error("version_failed", reason=reason, error=str(exc), attempt=attempts, retry_in=delay)

    def retry_due(self, key: Key) -> bool:
        """True unless ``key`` failed and its retry is not due yet."""
        failure = self._failures.get(key)
        return failure is None or self._clock() >= failure.next_attempt

    def clear_failure(self, key: Key) -> None:
        """Forget the failure of ``key`` (it is served now)."""
        self._failures.pop(key, None)

    def keep_failures(self, wanted: Iterable[Key]) -> None:
        """Forget failures of versions no longer desired."""
        keys = set(wanted)
        self._failures = {k: f for k, f in self._failures.items() if k in keys}

    def failed(self) -> dict[Key, str]:
        """``(model, version)`` -> ``"<reason>: <error>"`` for every recorded failure."""
        return {k: f"{f.reason}: {f.error}" for k, f in self._failures.items()}

    # -- timing ---------------------------------------------------------------------------------

    def outage(self) -> float:
        """Count one more reconcile that could not finish; seconds before the next one.

        The delay is the backoff of the number of such reconciles in a row.
        """
        self._outage_count += 1
        return self._outage_delay()

    def recovered(self) -> float:
        """End an outage; seconds before the next reconcile.

        That is ``poll_interval``, or less when a failed version's retry is due sooner (at least
        0.01 s).
        """
        self._outage_count = 0
        delay = self.poll_interval
        now = self._clock()
        for failure in self._failures.values():
            delay = min(delay, max(failure.next_attempt - now, 0.01))
        return delay

    def _outage_delay(self) -> float:
        return backoff_delay(self._outage_count, self.backoff_initial, self.backoff_max)

    # -- reports --------------------------------------------------------------------------------

    def observe(
        self,
        desired: DesiredState,
        index: list[RepositoryEntry],
        traffic: Iterable[TrafficCounters] = (),
    ) -> PodStatusReport:
        """The pod's observed state: served versions from the index plus failed desired ones,
        with Triton's per-version request counters (``traffic``) of the reported versions of
        desired models (the registry refuses counters of any other version).

        Also sets ``served_version`` per desired model (the desired version when READY, else
        the newest READY one, else 0). Index rows whose name is not a registry model name are
        left out.
        """
        models: dict[Key, ObservedModel] = {}
        wanted = {d.model: d.version for d in desired.models}
        for entry in index:
            if entry.version is None or entry.state not in SERVING_STATES:
                continue
            if entry.name not in wanted and entry.state == "UNLOADING":
                continue
            if not _NAME.match(entry.name):
                continue  # not a registry model name: not ours to report
            models[(entry.name, entry.version)] = ObservedModel(
                model=entry.name, version=entry.version, state=cast(ModelState, entry.state)
            )
        rows = {(e.name, e.version): e for e in index if e.version is not None}
        for model, number in wanted.items():
            failure = self._failures.get((model, number))
            served = models.get((model, number))
            if served is not None and served.state == "READY":
                continue
            if failure is not None:
                models[(model, number)] = ObservedModel(
                    model=model,
                    version=number,
                    state="FAILED",
                    error=escape_controls(f"{failure.reason}: {failure.error}")[:MAX_ERROR_CHARS],
                )
                continue
            row = rows.get((model, number))
            if row is not None and row.state == "UNAVAILABLE" and row.reason != "unloaded":
                models[(model, number)] = ObservedModel(
                    model=model,
                    version=number,
                    state="UNAVAILABLE",
                    error=escape_controls(row.reason)[:MAX_ERROR_CHARS] or None,
                )
        for model, number in wanted.items():
            ready = sorted(v for (m, v), o in models.items() if m == model and o.state == "READY")
            shown = number if number in ready else (ready[-1] if ready else 0)
            self.metrics.served_version.labels(model=model).set(shown)
        ordered = sorted(models.values(), key=lambda m: (m.model, m.version))
        counted = [t for t in traffic if t.model in wanted and (t.model, t.version) in models]
        report = PodStatusReport(models=ordered, agent=AGENT_NAME, traffic=counted)
        self._last_report = report
        return report

    def unavailable(self, desired: DesiredState, error: str) -> PodStatusReport:
        """The observed state when tritonserver cannot be asked: every desired version
        UNAVAILABLE with ``error``."""
        report = PodStatusReport(
            models=[
                ObservedModel(
                    model=d.model,
                    version=d.version,
                    state="UNAVAILABLE",
                    error=escape_controls(error)[:MAX_ERROR_CHARS],
                )
                for d in desired.models
            ],
            agent=AGENT_NAME,
        )
        self._last_report = report
        return report

    def send(self, report: PodStatusReport) -> bool:
        """PUT the report; on failure keep it as ``unreported``. True if the registry has it.

        An unreachable registry keeps the report for the next ``send_pending``; a refusal (4xx)
        drops it (sending it again would not help). Both are logged and counted
        (``registry_errors_total{operation="report"}``), never raised.
        """
        try:
            self.registry.report_pod_status(self.service, self.pod, report)
        except RegistryUnavailable as exc:
            self.metrics.registry_errors.labels(operation="report").inc()
            self._log.warning("registry_report_failed", error=str(exc))
            self._unreported = report
            return False
        except RegistryError as exc:  # refused (4xx): sending it again would not help
            self.metrics.registry_errors.labels(operation="report").inc()
            self._log.error("registry_report_refused", error=str(exc))
            self._unreported = None
            return False
        self._unreported = None
        return True

    def send_pending(self) -> None:
        """Send the kept ``unreported`` report, if any (see ``send``)."""
        if self._unreported is not None:
            self.send(self._unreported)

    def forget_pod(self) -> bool:
        """Tell the registry this pod is gone (its observed state is removed); True if done.

        Best effort: an unreachable or refusing registry is logged and counted
        (``registry_errors_total{operation="forget"}``), never raised. A report not sent yet is
        dropped.
        """
        self._unreported = None
        try:
            self.registry.forget_pod(self.service, self.pod)
        except (RegistryUnavailable, RegistryError) as exc:
            self.metrics.registry_errors.labels(operation="forget").inc()
            self._log.warning("registry_forget_failed", error=str(exc))
            return False
        self._log.info("pod_forgotten")
        return True
