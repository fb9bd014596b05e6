"""The kopf operator of the lifecycle controller: thin handlers over ``jobs`` and ``registration``.

``build_registry`` returns a ``kopf.OperatorRegistry`` with:

- the index ``namespace_teams`` (namespace -> team, from namespaces carrying the team label);
  handlers of any module may take it as the keyword argument ``namespace_teams``;
- per watched kind (``jobs.WATCHED``, objects labelled ``kubeai.dev/model``), one handler
  ``register/status`` bound to the object's first sighting (``on.create``) and to changes of its
  ``status`` (``on.update``), filtered to finished jobs without the outcome annotation
  ``kubeai.dev/registration``;
- the Fluid Dataset handlers of ``glue.controller.datasets``, on the same namespace index.

How progress is stored, and why:

- The durable record is on the job: ``kubeai.dev/registration`` (``Registered``,
  ``TrainingFailed``, ``RegistrationFailed``) and ``kubeai.dev/model-version``, plus the
  registry's own idempotency by the job's uid. A job carrying the outcome annotation is never
  handled again; removing it asks for another attempt.
- kopf's "last handled configuration" (its diff base) is kept in memory only
  (``MemoryDiffBase``), not as kopf's default annotation holding a copy of the job's spec (and
  here its status) on every user's job. After a restart every job is therefore seen as new once,
  and the filter above picks exactly the finished, unrecorded ones: level-triggered recovery.
- kopf's per-handler retry state (attempt count, next retry time) lives in annotations
  prefixed ``kopf.kubeai.dev/`` only while a retry is pending, and is removed when the
  handler ends, so a restart during a registry outage resumes the backoff where it was.
- No finalizers: only change handlers are used (no deletion handlers, daemons or timers), so a
  user's job is never blocked from deletion by the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import kopf
import structlog
from aiohttp import web

from glue.artifacts.settings import nested_env_prefix
from glue.artifacts.store import ArtifactStore
from glue.controller import datasets, jobs, kube, metrics
from glue.controller.jobs import BadJob, JobKind
from glue.controller.kube import fluid_dataset_exists
from glue.controller.leader import LeaderElector, run_while_leader
from glue.controller.registration import Refused, Retry, register_job
from glue.controller.settings import ControllerSettings
from glue.kubeconfig import KubeConnection
from glue.model_registry.client import RegistryClient

log = structlog.get_logger("kubeai.controller")

#: Prefix of kopf's retry-state annotations on a job (present only while a retry is pending).
#: A ``kopf.`` prefix: kopf marks any other prefix with an extra ``<prefix>/kopf-managed``
#: annotation that would stay on the job for good.
PROGRESS_PREFIX = "kopf.kubeai.dev"
#: The handler id (one id for the create and the status-update binding: one retry state).
HANDLER_ID = "register/status"

#: The index of team namespaces: namespace name -> team (the value of ``TEAM_LABEL``).
TEAM_INDEX = "namespace_teams"


class MemoryDiffBase(kopf.DiffBaseStorage):
    """kopf's diff base in this process's memory, by object uid (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._essences: dict[str, kopf.BodyEssence] = {}
        self._lock = threading.Lock()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """The essence last stored for ``body``'s uid, or None."""
        with self._lock:
            return self._essences.get(str(body.metadata.uid))

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Remember ``essence``; the object is not patched."""
        with self._lock:
            self._essences[str(body.metadata.uid)] = essence

    def forget(self, uid: str) -> None:
        """Drop what is kept of a deleted object."""
        with self._lock:
            self._essences.pop(uid, None)


class Runtime:
    """What the handlers share: settings, the artifact store, the apiserver client and one
    registry client per team (created on first use; thread-safe)."""

    def __init__(self, settings: ControllerSettings, connection: KubeConnection) -> None:
        self.settings = settings
        self.connection = connection
        self.store = ArtifactStore(
            settings.artifacts,
            env_prefix=nested_env_prefix(ControllerSettings, "artifacts"),
        )
        self.kube = kube.client(connection)
        self.diffbase = MemoryDiffBase()
        self._registries: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def new_client(self, team: str | None = None) -> RegistryClient:
        """A new registry client with the controller's credentials (the caller closes it)."""
        ca = self.settings.registry_ca_file
        return RegistryClient(
            self.settings.registry_url,
            team=team,
            timeout=self.settings.registry_timeout,
            token_file=self.settings.registry_token_file,
            verify=str(ca) if ca else True,
        )

    def registry(self, team: str) -> RegistryClient:
        """The registry client acting in ``team`` (one per team, kept open)."""
        with self._lock:
            client = self._registries.get(team)
            if client is None:
                client = self._registries[team] = self.new_client(team)
            return client

    def dataset_of(self, kind: JobKind, body: kopf.Body, namespace: str) -> str | None:
        """The job's dataset: the annotation, else the first mounted PVC that is a Fluid
        Dataset of ``namespace``. Raises ``Retry`` when the apiserver cannot answer."""
        named = jobs.dataset_annotation(body)
        if named:
            return named
        try:
            for claim in jobs.claim_names(kind, body):
                if fluid_dataset_exists(self.kube, namespace=namespace, name=claim):
                    return claim
        except httpx.HTTPError as exc:
            raise Retry(f"cannot look up Fluid datasets: {exc}", reason="apiserver") from exc
        return None

    def close(self) -> None:
        """Close every client."""
        self.kube.close()
        for client in self._registries.values():
            client.close()


def team_of(namespace_teams: kopf.Index[str, str], namespace: str) -> str | None:
    """The team of ``namespace`` from the ``namespace_teams`` index (None: not a team's)."""
    store = namespace_teams.get(namespace)
    return next(iter(store), None) if store else None


def backoff(settings: ControllerSettings, retry: int) -> float:
    """Seconds before attempt ``retry + 1``: ``retry_initial * 2**retry``, at most
    ``retry_max``."""
    return float(min(settings.retry_initial * 2 ** min(retry, 30), settings.retry_max))


def _finished_and_unrecorded(kind: JobKind) -> Callable[..., bool]:
    def when(body: kopf.Body, annotations: kopf.Annotations, **_: Any) -> bool:
        return jobs.OUTCOME_ANNOTATION not in annotations and jobs.phase(kind, body) != "Running"

    return when


def _record(patch: kopf.Patch, outcome: str, version: int | None = None) -> None:
    patch.metadata.annotations[jobs.OUTCOME_ANNOTATION] = outcome
    if version is not None:
        patch.metadata.annotations[jobs.MODEL_VERSION_ANNOTATION] = str(version)


def _refuse(body: kopf.Body, patch: kopf.Patch, field: str, message: str, **where: Any) -> None:
    metrics.FAILURES.labels("refused").inc()
    metrics.REGISTRATIONS.labels("refused").inc()
    text = f"{field}: {message}" if not message.startswith(field) else message
    kopf.event(body, type="Warning", reason="RegistrationFailed", message=text[:1000])
    _record(patch, "RegistrationFailed")
    log.warning("registration refused", field=field, error=message, **where)
    raise kopf.PermanentError(text)


def make_handler(kind: JobKind, runtime: Runtime) -> Callable[..., None]:
    """The handler of finished jobs of ``kind`` (sync: kopf runs it in a worker thread)."""
    settings = runtime.settings

    def register(
        body: kopf.Body,
        namespace: str,
        name: str,
        uid: str,
        patch: kopf.Patch,
        retry: int,
        namespace_teams: kopf.Index[str, str],
        **_: Any,
    ) -> None:
        where = {"kind": kind.kind, "namespace": namespace, "job": name, "uid": uid}
        team = team_of(namespace_teams, namespace)
        if team is None:
            log.info("namespace has no team label: job ignored", label=settings.team_label, **where)
            return
        phase = jobs.phase(kind, body)
        if retry == 0:
            metrics.EVENTS.labels(kind.kind, phase).inc()
        if phase == "Failed":
            reason = jobs.failure_message(kind, body)
            kopf.event(
                body, type="Warning", reason="TrainingFailed", message=f"no version: {reason}"
            )
            _record(patch, "TrainingFailed")
            metrics.REGISTRATIONS.labels("training_failed").inc()
            log.info("training failed: no version", reason=reason, **where)
            return
        try:
            result = register_job(
                kind=kind,
                body=body,
                team=team,
                registry=runtime.registry(team),
                store=runtime.store,
                root=settings.root_uri,
                dataset=runtime.dataset_of(kind, body, namespace),
            )
        except Retry as exc:
            metrics.FAILURES.labels(exc.reason).inc()
            if exc.reason == "dataset_unknown" and retry + 1 >= settings.dataset_retries:
                _refuse(body, patch, "body.dataset", str(exc), **where)
            delay = backoff(settings, retry)
            log.warning("registration will be retried", error=str(exc), delay=delay, **where)
            raise kopf.TemporaryError(f"{exc}; retrying in {delay:.0f} s", delay=delay) from exc
        except BadJob as exc:
            _refuse(body, patch, exc.field, str(exc), **where)
        except Refused as exc:
            _refuse(body, patch, exc.field, str(exc), **where)
        _record(patch, "Registered", result.version)
        outcome = "created" if result.created else "existing"
        metrics.REGISTRATIONS.labels(outcome).inc()
        finished = jobs.completion_time(kind, body)
        lag = (datetime.now(UTC) - finished).total_seconds() if finished else None
        if result.created and lag is not None:
            metrics.LAG.observe(max(lag, 0.0))
        message = f"registered {result.model} version {result.version}"
        if not result.created:
            message += " (the registry already had this job's version)"
        kopf.event(body, type="Normal", reason="Registered", message=message)
        log.info(
            "version registered",
            model=result.model,
            version=result.version,
            outcome=outcome,
            lag_seconds=lag,
            **where,
        )

    return register


def register_job_handlers(
    registry: kopf.OperatorRegistry, settings: ControllerSettings, runtime: Runtime
) -> None:
    """Add the namespace index and the handlers of every watched job kind to ``registry``."""

    def namespace_teams(name: str, labels: kopf.Labels, **_: Any) -> dict[str, str]:
        return {name: labels[settings.team_label]}

    kopf.index(
        "v1",
        "namespaces",
        id=TEAM_INDEX,
        registry=registry,
        labels={settings.team_label: kopf.PRESENT},
    )(namespace_teams)

    def forget(type: str, uid: str, **_: Any) -> None:
        if type == "DELETED":
            runtime.diffbase.forget(uid)

    for kind in WATCHED_KINDS:
        selector = (kind.group, kind.version, kind.plural)
        handler = make_handler(kind, runtime)
        labels = {jobs.MODEL_LABEL: kopf.PRESENT}
        when = _finished_and_unrecorded(kind)
        common: dict[str, Any] = {"registry": registry, "labels": labels, "when": when}
        kopf.on.create(*selector, id=HANDLER_ID, **common)(handler)
        kopf.on.update(*selector, id="register", field="status", **common)(handler)
        kopf.on.event(*selector, id="forget", registry=registry, labels=labels)(forget)


WATCHED_KINDS: Sequence[JobKind] = jobs.WATCHED


def build_registry(settings: ControllerSettings, runtime: Runtime) -> kopf.OperatorRegistry:
    """The operator's registry: login, settings, job handlers, then the dataset handlers."""
    registry = kopf.OperatorRegistry()

    def login(**_: Any) -> kopf.ConnectionInfo:
        return kube.kopf_login(runtime.connection)

    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=PROGRESS_PREFIX
        )
        settings.persistence.diffbase_storage = runtime.diffbase
        settings.posting.level = logging.CRITICAL  # only the controller's own Events
        settings.peering.standalone = True  # leader election is leader.py's
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330

    kopf.on.login(registry=registry)(login)
    kopf.on.startup(registry=registry)(configure)
    register_job_handlers(registry, settings, runtime)
    datasets.register_handlers(
        registry,
        client_factory=runtime.new_client,
        team_label=settings.team_label,
        retry_first=settings.retry_initial,
        retry_max=settings.retry_max,
        team_index=TEAM_INDEX,
    )
    return registry


def _json_logs() -> None:
    """kopf's own records as JSON lines on stderr, like the controller's."""
    kopf.configure(log_format=kopf.LogFormat.JSON, log_refkey="object", log_prefix=False)


async def _health(port: int, address: str, alive: Callable[[], bool]) -> web.AppRunner | None:
    """Serve ``/healthz`` (200 while ``alive()``, else 503) on ``address:port``; 0: off."""
    if not port:
        return None

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n" if alive() else "stuck\n", status=200 if alive() else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    return runner


async def run(settings: ControllerSettings) -> bool:
    """Run the controller until SIGTERM/SIGINT (returns True, Lease released) or until
    leadership is lost (returns False). Raises ``KubeconfigError`` without credentials."""
    _json_logs()
    connection = kube.discover()
    runtime = Runtime(settings, connection)
    metrics.serve(settings.metrics_port, settings.bind_address)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = await _health(settings.health_port, settings.bind_address, lambda: True)
    elector = LeaderElector(
        client=kube.client(connection),
        namespace=settings.lease_namespace,
        name=settings.lease_name,
        identity=settings.identity,
        lease_duration=settings.lease_duration,
        renew_period=settings.renew_period,
    )

    async def operate(stop_work: asyncio.Event) -> None:
        registry = build_registry(settings, runtime)
        ready = asyncio.Event()
        task = asyncio.ensure_future(
            kopf.operator(
                registry=registry,
                clusterwide=True,
                standalone=True,
                stop_flag=stop_work,
                ready_flag=ready,
            )
        )
        waiter = asyncio.ensure_future(ready.wait())
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        # kopf installs its own SIGTERM/SIGINT handlers: ours must stay (they release the Lease).
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await task

    def leading(flag: bool) -> None:
        metrics.LEADER.set(1 if flag else 0)

    try:
        return await run_while_leader(elector, operate, stop=stop, on_leading=leading)
    finally:
        if health is not None:
            await health.cleanup()
        elector.client.close()
        with contextlib.suppress(Exception):
            runtime.close()
