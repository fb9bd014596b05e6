"""The serving agent: makes one tritonserver serve what the registry wants, and says what it serves.

It runs beside a tritonserver in explicit model-control mode (a sidecar in the cluster, a process
locally) and shares its model repository directory. ``ServingAgent`` orchestrates three parts,
each in its own module: the installer (``installer.py``: stage, verify, rename into the model
repository, garbage collection), the swapper (``swapper.py``: Triton loads and unloads, readiness
confirmed in the repository index) and the reporter (``reporter.py``: observed state, reports,
retry and outage delays). Each reconcile:

1. fetches the pod's desired state (one version per model) from the registry (a conditional
   GET: the registry answers 304 when it is the one the agent already holds);
2. for each model whose desired version N is not the one READY in Triton:
   a. installs N unless ``<repo>/<model>/<N>/`` already holds it verified against the manifest:
      first removes every other version of the model that Triton does not serve (so a swap
      holds at most the served and the new version; when that is not room enough, also
      versions of other models neither desired nor served) and refuses the download when it
      cannot fit in the repository's budget (``disk.py``: ``InsufficientSpace``, reported
      FAILED while the old version keeps serving); then downloads the artifact into
      ``<repo>/.staging/<unique>/`` (sha256 checked while streaming), runs the layout
      pre-flight, stores the version's config.pbtxt as
      ``<repo>/.kubeai/<model>/<N>.pbtxt`` and renames the artifact's single version directory
      to ``<repo>/<model>/<N>`` (``os.rename``: atomic, and it never replaces a directory; a
      corrupted existing one is first moved aside to ``<repo>/.trash/``);
   b. hot swaps with one load of version policy ``specific [N]``: Triton loads N while the old
      version keeps serving and unloads the old one only once N is ready (a failed load leaves
      the old one serving); the agent then confirms N READY in the repository index (a 200
      alone is not proof) and the old version gone. In-flight and new requests never fail.
      An earlier design loaded ``[old, N]`` first; with tritonserver 2.51 a load that
      re-initialises a loaded version while another version loads crashed the server
      (SIGSEGV, seen in the test suite), so the agent never asks Triton to touch the version
      being served. A changed config is written to ``<repo>/<model>/config.pbtxt`` first
      (tmp + rename);
3. unloads models no longer desired (their files stay for a fast rollback);
4. removes version directories older than the current and ``keep_previous`` previous ones;
5. reports the pod's observed state (PUT, full state) to the registry, on every reconcile even
   when nothing changed: the report doubles as a heartbeat, so the registry can tell a live
   pod from one that died without saying so. It carries Triton's per-version request counters
   and p99 latency (``traffic.py``, from ``triton_metrics_url``), which the canary gate judges;
   an unreadable metrics endpoint only leaves them out.

Between reconciles (``poll_interval``, the report's heartbeat) the agent long-polls the desired
state (``long_poll``: ``wait`` with the last ETag, ``await_change``), so an alias move or a new
canary is reconciled within milliseconds instead of a poll interval later; a registry that does
not long-poll is asked once per interval. ``load_started`` is logged when a swap of a new version
begins.

The model-level ``config.pbtxt`` is only rewritten when the config really changes: Triton reloads
every loaded version of a model whose config file changed.

Failures (checksum mismatch, bad layout, no room within the disk budget, load refused or not
READY in time, artifact storage or registry unreachable) never touch what is served: the failed
version is reported FAILED with the error while the still-served version is reported READY,
and it is retried with exponential backoff (``backoff_initial`` doubling up to ``backoff_max``).
A report that could not be sent is kept and sent first on the next reconcile. After a restart
the state is rebuilt from Triton's repository index and the repository directory: a desired
version already READY is not loaded again.
When ``run`` stops (SIGTERM/SIGINT for the process), the agent asks the registry to forget
the pod (``DELETE .../pods/{pod}``), best effort, so a stopped pod is not listed as serving.

Readiness (``readiness.py``, served as ``/readyz`` by ``endpoint.py`` beside ``/metrics`` and
``/healthz``) is assessed from the desired state and the index the agent just read: once the
desired state is fetched, after each swap and at the end of each reconcile. The pod is Ready only
when a version of every assigned model is READY, confirmed in the index by the agent: the assigned
one, or the earlier one still serving while the assigned one loads or after it failed. Not Ready
before the registry answered once, and while tritonserver is unreachable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from structlog.typing import FilteringBoundLogger

from glue.artifacts.errors import ArtifactError
from glue.artifacts.store import ArtifactStore
from glue.model_registry.client import RegistryClient, RegistryError, RegistryUnavailable
from glue.model_registry.schemas import (
    DesiredState,
    DesiredVersion,
    PodStatusReport,
    ServiceCreate,
    TrafficCounters,
)
from glue.serving_agent.disk import DiskBudget
from glue.serving_agent.endpoint import AgentEndpoint
from glue.serving_agent.installer import Installer
from glue.serving_agent.metrics import AgentMetrics
from glue.serving_agent.readiness import ReadinessGate, assess, waiting
from glue.serving_agent.reporter import Key, Reporter
from glue.serving_agent.settings import AgentSettings
from glue.serving_agent.swapper import Swapper
from glue.serving_agent.traffic import TrafficReader, TrafficUnavailable
from glue.triton.layout import LayoutError
from glue.triton.repository import (
    RepositoryEntry,
    TritonError,
    TritonRepository,
    TritonUnavailable,
)

#: Seconds a readiness probe's question to tritonserver may take (the chart's probe allows 3).
PROBE_TIMEOUT = 1.0
#: Longest ``wait`` of one long-poll (s): within the registry's default bound (60 s) and the
#: idle timeouts of common proxies; a longer quiet interval takes several long-polls.
LONG_POLL_SECONDS = 30.0
#: A long-poll answered sooner than this (or than half its ``wait``) without a change was not
#: held: the registry does not long-poll (s).
LONG_POLL_HELD_SECONDS = 0.5
#: After a registry did not long-poll, seconds until it is asked again; doubled while it still
#: does not, up to the maximum.
LONG_POLL_REPROBE_SECONDS = 300.0
LONG_POLL_REPROBE_MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class ReconcileResult:
    """Outcome of one ``reconcile_once``.

    Attributes:
        registry_ok: the desired state was fetched.
        triton_ok: tritonserver answered.
        reported: the observed state reached the registry.
        swapped: ``(model, version)`` pairs that became served in this reconcile.
        failed: ``(model, version)`` -> error text, for desired versions that are not served.
        observed: the report built at the end of this reconcile.
        next_delay: seconds ``run`` waits before the next reconcile.
    """

    registry_ok: bool
    triton_ok: bool
    reported: bool
    swapped: list[Key] = field(default_factory=list)
    failed: dict[Key, str] = field(default_factory=dict)
    observed: PodStatusReport | None = None
    next_delay: float = 0.0


class ServingAgent:
    """Syncs one tritonserver with the registry's desired state for ``settings.service/pod``.

    Args:
        settings: the agent's settings.
        registry: registry client (default: one for ``settings.registry_url``).
        triton: repository API client (default: one for ``settings.triton_url``).
        store: artifact store (default: built from ``settings.artifacts``).
        metrics: metrics holder (default: a fresh one with its own ``CollectorRegistry``).
        clock: monotonic clock in seconds that schedules retries (tests may replace it).

    Attributes:
        installer: the ``Installer`` of ``settings.model_repository``.
        disk: the repository's ``DiskBudget`` (``settings.repository_budget_bytes``).
        swapper: the ``Swapper`` driving ``triton``.
        reporter: the ``Reporter`` for this pod.
        readiness: the ``ReadinessGate`` the agent updates and ``/readyz`` answers from.
        endpoint: the HTTP endpoint (``/metrics``, ``/readyz``, ``/healthz``) ``run`` serves.

    ``reconcile_once`` is safe to call from several threads (calls are serialised).
    Raises ``OSError`` if the model repository's working directories cannot be created.
    """

    def __init__(
        self,
        settings: AgentSettings,
        *,
        registry: RegistryClient | None = None,
        triton: TritonRepository | None = None,
        store: ArtifactStore | None = None,
        metrics: AgentMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.repository = Path(settings.model_repository)
        self.registry = registry or RegistryClient(
            settings.registry_url,
            team=settings.team,
            timeout=settings.registry_timeout,
            token_file=settings.registry_token_file,
        )
        self.triton = triton or TritonRepository(
            settings.triton_url,
            grpc_url=settings.triton_grpc_url or None,
            load_timeout=settings.ready_timeout + 30,
        )
        self.store = store or ArtifactStore(settings.artifacts)
        self.metrics = metrics or AgentMetrics()
        self._lock = threading.Lock()
        #: Long-polls are not tried before this monotonic time (a registry that does not
        #: long-poll), and the current re-probe delay (0: long-polls work).
        self._long_poll_off_until = 0.0
        self._long_poll_backoff = 0.0
        self._log = structlog.get_logger("kubeai.serving_agent").bind(
            service=settings.service, pod=settings.pod
        )
        self.reporter = Reporter(
            self.registry,
            service=settings.service,
            pod=settings.pod,
            metrics=self.metrics,
            log=self._log,
            poll_interval=settings.poll_interval,
            backoff_initial=settings.backoff_initial,
            backoff_max=settings.backoff_max,
            clock=clock,
        )
        self.swapper = Swapper(
            self.triton, self.metrics, self._log, ready_timeout=settings.ready_timeout
        )
        self.installer = Installer(
            self.repository, self.store, keep_previous=settings.keep_previous
        )
        self.disk = DiskBudget(self.repository, settings.repository_budget_bytes)
        # Probes ask Triton with a short timeout of their own: a probe must answer in seconds.
        probe_triton = TritonRepository(self.triton.url, timeout=PROBE_TIMEOUT)
        self.readiness = ReadinessGate(probe_triton.version_ready)
        self.endpoint = AgentEndpoint(self.metrics, self.readiness)
        self.traffic = (
            TrafficReader(settings.triton_metrics_url, timeout=PROBE_TIMEOUT)
            if settings.triton_metrics_url
            else None
        )
        self._desired_seen = False

    # -- public ---------------------------------------------------------------------------------

    @property
    def last_report(self) -> PodStatusReport | None:
        """The observed state built by the latest reconcile (sent or not)."""
        return self.reporter.last_report

    @property
    def unreported(self) -> PodStatusReport | None:
        """The latest report the registry has not received yet (None when it has)."""
        return self.reporter.unreported

    def close(self) -> None:
        """Release the registry client's connections and stop the HTTP endpoint."""
        self.endpoint.stop()
        self.registry.close()
        if self.traffic is not None:
            self.traffic.close()

    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set: every ``poll_interval`` s, sooner/later on failures,
        and (``long_poll``) at once when the desired state changes in between.

        Serves ``/metrics``, ``/readyz`` and ``/healthz`` meanwhile when
        ``settings.metrics_port`` > 0. Never raises for registry, storage or Triton failures
        (they are logged, reported and retried). Once ``stop`` is set, the registry is told to
        forget this pod (``forget_pod``, best effort); a long-poll in flight ends first (at
        most ``LONG_POLL_SECONDS`` s later).
        """
        if self.settings.metrics_port:
            port = self.endpoint.start(self.settings.metrics_port, self.settings.metrics_address)
            self._log.info("endpoint_serving", port=port)
        self._log.info(
            "agent_started",
            triton=self.triton.url,
            triton_control=self.triton.control,
            registry=self.settings.registry_url,
        )
        try:
            while not stop.is_set():
                healthy = False
                try:
                    result = self.reconcile_once()
                    delay = result.next_delay
                    healthy = result.registry_ok and result.triton_ok
                except Exception:  # a bug must not kill the sidecar: log, back off, go on
                    self._log.exception("reconcile_crashed")
                    delay = self.reporter.outage()
                if healthy and self.settings.long_poll:
                    self.await_change(delay, stop)
                else:
                    stop.wait(delay)
            self.forget_pod()
        finally:
            self.endpoint.stop()
            self._log.info("agent_stopped")

    def await_change(self, delay: float, stop: threading.Event) -> bool:
        """Wait up to ``delay`` s for the pod's desired state to change (True: changed), by
        long-polls of the registry; returns early when ``stop`` is set between two of them.

        A registry that does not long-poll (no ETag, answers at once without a change, or
        refuses ``wait`` with a 422) is remembered as such (one warning) and not asked again
        until a re-probe ``LONG_POLL_REPROBE_SECONDS`` later (doubling while it still does not,
        up to ``LONG_POLL_REPROBE_MAX_SECONDS``): meanwhile ``delay`` is slept (``stop`` ends
        it), so such a registry gets one desired-state read per ``poll_interval``. A registry
        holding the request shorter than asked (a lower maximum) is simply asked again. Other
        failures sleep the rest of ``delay``.
        """
        deadline = time.monotonic() + delay
        if time.monotonic() < self._long_poll_off_until:
            stop.wait(delay)
            return False
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0.01:
                return False
            wait = min(remaining, LONG_POLL_SECONDS)
            started = time.monotonic()
            try:
                _, changed = self.registry.wait_desired_state(
                    self.settings.service, self.settings.pod, wait=wait
                )
            except RegistryError as exc:
                if exc.status == 422:  # a registry refusing this wait (an older one)
                    self._long_poll_unsupported(str(exc))
                else:
                    self._log.info("long_poll_failed", error=str(exc))
                stop.wait(max(deadline - time.monotonic(), 0))
                return False
            except RegistryUnavailable as exc:
                self._log.info("long_poll_failed", error=str(exc))
                stop.wait(max(deadline - time.monotonic(), 0))
                return False
            if changed:
                self._long_poll_supported()
                self._log.info("desired_changed")
                return True
            if time.monotonic() - started < min(wait / 2, LONG_POLL_HELD_SECONDS):
                self._long_poll_unsupported("answered at once without a change")
                stop.wait(max(deadline - time.monotonic(), 0))
                return False
            self._long_poll_supported()
        return False

    def _long_poll_unsupported(self, reason: str) -> None:
        """Stop long-polling until the next re-probe (warns once, when it starts)."""
        if self._long_poll_backoff == 0:
            self._log.warning("long_poll_unsupported", reason=reason)
            self._long_poll_backoff = LONG_POLL_REPROBE_SECONDS
        else:
            doubled = self._long_poll_backoff * 2
            self._long_poll_backoff = min(doubled, LONG_POLL_REPROBE_MAX_SECONDS)
        self._long_poll_off_until = time.monotonic() + self._long_poll_backoff

    def _long_poll_supported(self) -> None:
        if self._long_poll_backoff:
            self._log.info("long_poll_supported")
        self._long_poll_backoff = 0.0
        self._long_poll_off_until = 0.0

    def forget_pod(self) -> bool:
        """Tell the registry this pod is gone (its observed state is removed); True if done.

        Best effort, for a graceful stop: an unreachable or refusing registry is logged and
        counted (``registry_errors_total{operation="forget"}``), never raised. A report not
        sent yet is dropped.
        """
        with self._lock:
            return self.reporter.forget_pod()

    def reconcile_once(self) -> ReconcileResult:
        """One pass: fetch desired state, install and hot swap, unload, clean up, report.

        Returns what happened; raises nothing for registry, storage or Triton failures.
        """
        with self._lock, self.metrics.sync_duration.time():
            return self._reconcile()

    # -- reconcile ------------------------------------------------------------------------------

    def _desired_state(self) -> DesiredState:
        """Desired state of this pod; creates the service record first when it is missing.

        The record is created with ``initial_assignments`` only if the registry answers 404
        for the service (``exist_ok`` keeps an existing record untouched).
        """
        try:
            return self.registry.desired_state(self.settings.service, self.settings.pod)
        except RegistryError as exc:
            if exc.status != 404 or not self.settings.initial_assignments:
                raise
            self.registry.create_service(
                ServiceCreate(
                    name=self.settings.service,
                    service_account=self.settings.service_account,
                    assignments=list(self.settings.initial_assignments),
                ),
                exist_ok=True,
            )
            self._log.info("service_created", assignments=len(self.settings.initial_assignments))
            return self.registry.desired_state(self.settings.service, self.settings.pod)

    def _reconcile(self) -> ReconcileResult:
        reporter = self.reporter
        reporter.send_pending()
        try:
            desired = self._desired_state()
        except (RegistryUnavailable, RegistryError) as exc:
            self.metrics.registry_errors.labels(operation="desired").inc()
            self._log.warning("registry_desired_failed", error=str(exc))
            if not self._desired_seen:  # later outages keep the last assessment
                self.readiness.set(waiting(f"registry never reached (no desired state yet): {exc}"))
            return ReconcileResult(
                registry_ok=False,
                triton_ok=True,
                reported=reporter.unreported is None,
                observed=reporter.last_report,
                next_delay=reporter.outage(),
            )
        self._desired_seen = True
        reporter.keep_failures((d.model, d.version) for d in desired.models)
        swapped: list[Key] = []
        try:
            index = self.triton.index()
            self.readiness.set(assess(desired, index, reporter.failed()))
            for version in desired.models:
                if self._sync(version, index, desired):
                    swapped.append((version.model, version.version))
                    index = self.triton.index()
                    self.readiness.set(assess(desired, index, reporter.failed()))
            self.swapper.unload_undesired(desired, index)
            index = self.triton.index()
        except TritonUnavailable as exc:
            self._log.warning("triton_unreachable", error=str(exc))
            self.readiness.set(waiting(f"tritonserver unreachable: {exc}"))
            delay = reporter.outage()
            report = reporter.unavailable(desired, f"tritonserver unreachable: {exc}")
            reported = reporter.send(report)
            return ReconcileResult(
                registry_ok=True,
                triton_ok=False,
                reported=reported,
                swapped=swapped,
                failed={(d.model, d.version): str(exc) for d in desired.models},
                observed=report,
                next_delay=delay,
            )
        self.readiness.set(assess(desired, index, reporter.failed()))
        report = reporter.observe(desired, index, self._traffic())
        reported = reporter.send(report)
        return ReconcileResult(
            registry_ok=True,
            triton_ok=True,
            reported=reported,
            swapped=swapped,
            failed=reporter.failed(),
            observed=report,
            next_delay=reporter.recovered() if reported else reporter.outage(),
        )

    def _traffic(self) -> list[TrafficCounters]:
        """Triton's per-version counters now; none (logged) when they cannot be read."""
        if self.traffic is None:
            return []
        try:
            return self.traffic.read()
        except TrafficUnavailable as exc:
            self._log.warning("triton_metrics_unreadable", error=str(exc))
            return []

    def _sync(
        self, desired: DesiredVersion, index: list[RepositoryEntry], state: DesiredState
    ) -> bool:
        """Make ``desired`` (one of ``state``'s) the served version of its model; True if a swap
        happened."""
        model, number = desired.model, desired.version
        log = self._log.bind(model=model, version=number, role=desired.role)
        served = {
            e.version
            for e in index
            if e.name == model and e.state == "READY" and e.version is not None
        }
        if served == {number}:
            self.reporter.clear_failure((model, number))
            self.metrics.served_version.labels(model=model).set(number)
            self.installer.remember(model, number)
            self.installer.collect_garbage(model, number, index, log)
            return False
        if not self.reporter.retry_due((model, number)):
            return False
        try:
            if number in served:
                # An interrupted swap left old versions loaded beside N: finish it.
                config = self.installer.installed_config(model, number)
                started = time.perf_counter()
                self.swapper.finish_swap(model, number, served - {number}, config, log)
            else:
                log.info("load_started", served=sorted(served))
                config = self.installer.install(
                    desired,
                    log,
                    before_download=lambda: self._make_room(desired, state, log),
                )
                started = time.perf_counter()
                if self.installer.write_model_config(model, config):
                    log.info("model_config_written")
                self.swapper.swap(model, number, sorted(served), config, log)
        except TritonUnavailable:
            raise
        except (ArtifactError, LayoutError, TritonError, OSError, ValueError) as exc:
            self.reporter.record_failure(model, number, exc, log)
            return False
        elapsed = time.perf_counter() - started
        self.metrics.load_duration.labels(model=model).observe(elapsed)
        self.metrics.served_version.labels(model=model).set(number)
        self.reporter.clear_failure((model, number))
        previous = sorted(served - {number})
        log.info("swap_done", previous=previous, seconds=round(elapsed, 3))
        for old in previous:
            self.installer.remember(model, old)
        self.installer.remember(model, number)
        self.installer.collect_garbage(model, number, self.triton.index(), log)
        return True

    def _make_room(
        self,
        desired: DesiredVersion,
        state: DesiredState,
        log: FilteringBoundLogger,
    ) -> None:
        """Before downloading ``desired``: remove what is no longer desired, then check the fit.

        Every other version of the model goes unless Triton serves it (one the last swap is
        still unloading is waited for), so a swap holds at most the served and the new version.
        When that is not room enough, versions of the other models that ``state`` does not
        desire and Triton does not serve go too (rollback copies, models no longer assigned).
        Raises ``InsufficientSpace`` when the download still cannot fit (the served version
        keeps serving), ``TritonUnavailable``.
        """
        model, number = desired.model, desired.version
        index = self.swapper.settled_index(model, number)
        self.installer.remove_versions(model, {number}, index, log)
        if self.disk.fits(desired.manifest):
            return
        wanted = {d.model: d.version for d in state.models}
        for other in self.installer.installed_models():
            if other != model:
                keep = {wanted[other]} if other in wanted else set()
                self.installer.remove_versions(
                    other, keep, index, log.bind(model=other, version=wanted.get(other))
                )
        self.disk.check_fit(model, number, desired.manifest)
