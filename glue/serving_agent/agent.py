"""The serving agent: makes one tritonserver serve what the registry wants, and says what it serves.

It runs beside a tritonserver in explicit model-control mode (a sidecar in the cluster, a process
locally) and shares its model repository directory. Each reconcile:

1. fetches the pod's desired state (one version per model) from the registry;
2. for each model whose desired version N is not the one READY in Triton:
   a. installs N unless ``<repo>/<model>/<N>/`` already holds it verified against the manifest:
      downloads the artifact into ``<repo>/.staging/<unique>/`` (sha256 checked while streaming),
      runs the layout pre-flight, stores the version's config.pbtxt as
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
   pod from one that died without saying so.

The model-level ``config.pbtxt`` is only rewritten when the config really changes: Triton reloads
every loaded version of a model whose config file changed.

Failures (checksum mismatch, bad layout, load refused or not READY in time, artifact storage or
registry unreachable) never touch what is served: the failed version is reported FAILED with the
error while the still-served version is reported READY, and it is retried with exponential backoff
(``backoff_initial`` doubling up to ``backoff_max``). A report that could not be sent is kept and
sent first on the next reconcile. After a restart the state is rebuilt from Triton's repository
index and the repository directory: a desired version already READY is not loaded again.
When ``run`` stops (SIGTERM/SIGINT for the process), the agent asks the registry to forget
the pod (``DELETE .../pods/{pod}``), best effort, so a stopped pod is not listed as serving.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import structlog
from google.protobuf import text_format

from glue.artifacts.errors import (
    ArtifactError,
    ArtifactNotFound,
    ChecksumMismatch,
    InvalidArtifactURI,
    StorageUnavailable,
)
from glue.artifacts.manifest import FileDigest, verify_directory
from glue.artifacts.store import ArtifactStore
from glue.model_registry.client import RegistryClient, RegistryError, RegistryUnavailable
from glue.model_registry.schemas import (
    DNS1123_LABEL,
    DesiredState,
    DesiredVersion,
    ModelState,
    ObservedModel,
    PodStatusReport,
    ServiceCreate,
)
from glue.serving_agent.metrics import AgentMetrics
from glue.serving_agent.settings import AgentSettings
from glue.triton.config import ModelConfig, config_to_json
from glue.triton.layout import (
    CONFIG_FILE,
    PYCACHE,
    LayoutError,
    block_bytecode_cache,
    check_config_text,
    check_layout,
    is_version_name,
    manifest_version_dir,
)
from glue.triton.repository import (
    RepositoryEntry,
    TritonError,
    TritonLoadError,
    TritonRepository,
    TritonUnavailable,
)

STAGING_DIR = ".staging"
META_DIR = ".kubeai"
TRASH_DIR = ".trash"
#: Longest error text sent to the registry (its schema allows 4096 characters).
MAX_ERROR_CHARS = 4000
AGENT_NAME = "kubeai-serving-agent"
_SERVING_STATES = ("READY", "LOADING", "UNLOADING")
_NAME = re.compile(DNS1123_LABEL)

Key = tuple[str, int]


@dataclass
class _Failure:
    reason: str
    error: str
    attempts: int
    next_attempt: float


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


def failure_reason(exc: BaseException) -> str:
    """Short, stable label for a failure (the ``reason`` label of the failures counter)."""
    if isinstance(exc, ChecksumMismatch):
        return "checksum_mismatch"
    if isinstance(exc, ArtifactNotFound):
        return "artifact_not_found"
    if isinstance(exc, StorageUnavailable):
        return "storage_unavailable"
    if isinstance(exc, InvalidArtifactURI):
        return "invalid_uri"
    if isinstance(exc, ArtifactError):
        return "artifact_error"
    if isinstance(exc, LayoutError):
        return "layout"
    if isinstance(exc, TritonLoadError):
        return "not_ready" if exc.timed_out else "load_refused"
    return "io"


def same_config(a: Any, b: Any) -> bool:
    """True if two ``ModelConfig`` messages are equal apart from ``version_policy``."""
    left, right = ModelConfig(), ModelConfig()
    left.CopyFrom(a)
    right.CopyFrom(b)
    left.ClearField("version_policy")
    right.ClearField("version_policy")
    return bool(left == right)


def verify_installed_directory(directory: Path, files: dict[str, FileDigest]) -> None:
    """Check ``directory`` holds exactly ``files`` (relative path -> digest), ``__pycache__`` aside.

    Entries named ``__pycache__`` (our bytecode blockers, or caches Python wrote) and everything
    below them are ignored unless listed. Raises ``ChecksumMismatch`` naming the first
    difference, ``OSError`` if a file cannot be read.
    """
    verify_directory(directory, files, ignore_names=frozenset({PYCACHE}))


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename.

    Readers see the old or the new content, never a part. Raises ``OSError``.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class ServingAgent:
    """Syncs one tritonserver with the registry's desired state for ``settings.service/pod``.

    Args:
        settings: the agent's settings.
        registry: registry client (default: one for ``settings.registry_url``).
        triton: repository API client (default: one for ``settings.triton_url``).
        store: artifact store (default: built from ``settings.artifacts``).
        metrics: metrics holder (default: a fresh one with its own ``CollectorRegistry``).
        clock: monotonic clock in seconds that schedules retries (tests may replace it).

    ``reconcile_once`` is safe to call from several threads (calls are serialised).
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
            settings.registry_url, timeout=settings.registry_timeout
        )
        self.triton = triton or TritonRepository(
            settings.triton_url, load_timeout=settings.ready_timeout + 30
        )
        self.store = store or ArtifactStore(settings.artifacts)
        self.metrics = metrics or AgentMetrics()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[Key, _Failure] = {}
        self._history: dict[str, list[int]] = {}
        self._unreported: PodStatusReport | None = None
        self._last_report: PodStatusReport | None = None
        self._outage_count = 0
        self._log = structlog.get_logger("kubeai.serving_agent").bind(
            service=settings.service, pod=settings.pod
        )
        for name in (STAGING_DIR, META_DIR, TRASH_DIR):
            (self.repository / name).mkdir(parents=True, exist_ok=True)
        self._clean_scratch()

    # -- public ---------------------------------------------------------------------------------

    @property
    def last_report(self) -> PodStatusReport | None:
        """The observed state built by the latest reconcile (sent or not)."""
        return self._last_report

    @property
    def unreported(self) -> PodStatusReport | None:
        """The latest report the registry has not received yet (None when it has)."""
        return self._unreported

    def close(self) -> None:
        """Release the registry client's connections and stop the metrics endpoint."""
        self.metrics.stop()
        self.registry.close()

    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set: every ``poll_interval`` s, sooner/later on failures.

        Serves ``/metrics`` meanwhile when ``settings.metrics_port`` > 0. Never raises for
        registry, storage or Triton failures (they are logged, reported and retried). Once
        ``stop`` is set, the registry is told to forget this pod (``forget_pod``, best effort).
        """
        if self.settings.metrics_port:
            port = self.metrics.serve(self.settings.metrics_port, self.settings.metrics_address)
            self._log.info("metrics_serving", port=port)
        self._log.info("agent_started", triton=self.triton.url, registry=self.settings.registry_url)
        try:
            while not stop.is_set():
                try:
                    delay = self.reconcile_once().next_delay
                except Exception:  # a bug must not kill the sidecar: log, back off, go on
                    self._log.exception("reconcile_crashed")
                    self._outage_count += 1
                    delay = self._outage_delay()
                stop.wait(delay)
            self.forget_pod()
        finally:
            self.metrics.stop()
            self._log.info("agent_stopped")

    def forget_pod(self) -> bool:
        """Tell the registry this pod is gone (its observed state is removed); True if done.

        Best effort, for a graceful stop: an unreachable or refusing registry is logged and
        counted (``registry_errors_total{operation="forget"}``), never raised. A report not
        sent yet is dropped.
        """
        with self._lock:
            self._unreported = None
            try:
                self.registry.forget_pod(self.settings.service, self.settings.pod)
            except (RegistryUnavailable, RegistryError) as exc:
                self.metrics.registry_errors.labels(operation="forget").inc()
                self._log.warning("registry_forget_failed", error=str(exc))
                return False
        self._log.info("pod_forgotten")
        return True

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
                    team=self.settings.team,
                    assignments=list(self.settings.initial_assignments),
                ),
                exist_ok=True,
            )
            self._log.info("service_created", assignments=len(self.settings.initial_assignments))
            return self.registry.desired_state(self.settings.service, self.settings.pod)

    def reconcile_once(self) -> ReconcileResult:
        """One pass: fetch desired state, install and hot swap, unload, clean up, report.

        Returns what happened; raises nothing for registry, storage or Triton failures.
        """
        with self._lock, self.metrics.sync_duration.time():
            return self._reconcile()

    # -- reconcile ------------------------------------------------------------------------------

    def _reconcile(self) -> ReconcileResult:
        if self._unreported is not None:
            self._send(self._unreported)
        try:
            desired = self._desired_state()
        except (RegistryUnavailable, RegistryError) as exc:
            self.metrics.registry_errors.labels(operation="desired").inc()
            self._log.warning("registry_desired_failed", error=str(exc))
            self._outage_count += 1
            return ReconcileResult(
                registry_ok=False,
                triton_ok=True,
                reported=self._unreported is None,
                observed=self._last_report,
                next_delay=self._outage_delay(),
            )
        wanted = {(d.model, d.version) for d in desired.models}
        self._failures = {k: f for k, f in self._failures.items() if k in wanted}
        swapped: list[Key] = []
        try:
            index = self.triton.index()
            for version in desired.models:
                if self._sync(version, index):
                    swapped.append((version.model, version.version))
                    index = self.triton.index()
            self._unload_undesired(desired, index)
            index = self.triton.index()
        except TritonUnavailable as exc:
            self._log.warning("triton_unreachable", error=str(exc))
            self._outage_count += 1
            report = self._unavailable_report(desired, f"tritonserver unreachable: {exc}")
            reported = self._send(report)
            return ReconcileResult(
                registry_ok=True,
                triton_ok=False,
                reported=reported,
                swapped=swapped,
                failed={(d.model, d.version): str(exc) for d in desired.models},
                observed=report,
                next_delay=self._outage_delay(),
            )
        report = self._observe(desired, index)
        reported = self._send(report)
        self._outage_count = 0 if reported else self._outage_count + 1
        failed = {k: f"{f.reason}: {f.error}" for k, f in self._failures.items()}
        return ReconcileResult(
            registry_ok=True,
            triton_ok=True,
            reported=reported,
            swapped=swapped,
            failed=failed,
            observed=report,
            next_delay=self._next_delay() if reported else self._outage_delay(),
        )

    def _sync(self, desired: DesiredVersion, index: list[RepositoryEntry]) -> bool:
        """Make ``desired`` the served version of its model; True if a swap happened."""
        model, number = desired.model, desired.version
        log = self._log.bind(model=model, version=number, role=desired.role)
        served = {
            e.version
            for e in index
            if e.name == model and e.state == "READY" and e.version is not None
        }
        if served == {number}:
            self._failures.pop((model, number), None)
            self.metrics.served_version.labels(model=model).set(number)
            self._remember(model, number)
            self._collect_garbage(model, number, index, log)
            return False
        failure = self._failures.get((model, number))
        if failure is not None and self._clock() < failure.next_attempt:
            return False
        try:
            if number in served:
                # An interrupted swap left old versions loaded beside N: finish it.
                config = self._installed_config(model, number)
                started = time.perf_counter()
                self._load_exactly(model, config, [number], log)
                self.triton.wait_not_ready(model, served - {number}, self.settings.ready_timeout)
            else:
                config = self._install(desired, log)
                started = time.perf_counter()
                self._swap(model, number, sorted(served), config, log)
        except TritonUnavailable:
            raise
        except (ArtifactError, LayoutError, TritonError, OSError, ValueError) as exc:
            self._record_failure(model, number, exc, log)
            return False
        elapsed = time.perf_counter() - started
        self.metrics.load_duration.labels(model=model).observe(elapsed)
        self.metrics.served_version.labels(model=model).set(number)
        self._failures.pop((model, number), None)
        previous = sorted(served - {number})
        log.info("swap_done", previous=previous, seconds=round(elapsed, 3))
        for old in previous:
            self._remember(model, old)
        self._remember(model, number)
        self._collect_garbage(model, number, self.triton.index(), log)
        return True

    # -- install --------------------------------------------------------------------------------

    def _meta_path(self, model: str, number: int) -> Path:
        return self.repository / META_DIR / model / f"{number}.pbtxt"

    def _install(self, desired: DesiredVersion, log: Any) -> Any:
        """Put verified files of ``desired`` at ``<repo>/<model>/<N>``; return its parsed config."""
        model, number = desired.model, desired.version
        artifact_version = manifest_version_dir(desired.manifest.files)
        target = self.repository / model / str(number)
        if target.exists():
            try:
                config = self._verify_installed(desired, artifact_version)
                block_bytecode_cache(target)
                log.info("version_reused", path=str(target))
                return config
            except (ChecksumMismatch, LayoutError, OSError, UnicodeDecodeError) as exc:
                aside = self.repository / TRASH_DIR / f"{model}-{number}-{uuid.uuid4().hex[:8]}"
                log.warning("version_dir_corrupted", error=str(exc), moved_to=str(aside))
                os.rename(target, aside)
                shutil.rmtree(aside, ignore_errors=True)
        stage = self.repository / STAGING_DIR / f"{model}-{number}-{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        try:
            log.info("download_started", uri=desired.artifact_uri)
            self.store.download_dir(desired.artifact_uri, stage, desired.manifest)
            checked = check_layout(stage, model)
            block_bytecode_cache(checked.version_dir)
            meta = self._meta_path(model, number)
            meta.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(meta, checked.config_text.encode("utf-8"))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(checked.version_dir, target)
            log.info(
                "version_installed",
                path=str(target),
                bytes=desired.manifest.total_bytes,
                seconds=round(time.perf_counter() - started, 3),
            )
            return checked.config
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _verify_installed(self, desired: DesiredVersion, artifact_version: str) -> Any:
        """Check ``<repo>/<model>/<N>`` and its stored config against the manifest."""
        prefix = artifact_version + "/"
        files = {
            key[len(prefix) :]: digest
            for key, digest in desired.manifest.files.items()
            if key.startswith(prefix)
        }
        verify_installed_directory(self.repository / desired.model / str(desired.version), files)
        meta = self._meta_path(desired.model, desired.version)
        if not meta.is_file():
            raise ChecksumMismatch(
                f"{meta} (the version's config.pbtxt) is missing", field=CONFIG_FILE
            )
        data = meta.read_bytes()
        expected = desired.manifest.files[CONFIG_FILE]
        if hashlib.sha256(data).hexdigest() != expected.sha256 or len(data) != expected.size:
            raise ChecksumMismatch(
                f"{meta} does not match the manifest's config.pbtxt", field=CONFIG_FILE
            )
        return check_config_text(data.decode("utf-8"), desired.model)

    def _installed_config(self, model: str, number: int) -> Any | None:
        """Parsed stored config of an installed version, or None if unknown/unreadable."""
        for path in (self._meta_path(model, number), self.repository / model / CONFIG_FILE):
            try:
                return check_config_text(path.read_text(encoding="utf-8"), model)
            except (OSError, UnicodeDecodeError, LayoutError):
                continue
        return None

    # -- swap -----------------------------------------------------------------------------------

    def _write_model_config(self, model: str, config: Any) -> bool:
        """Write ``<repo>/<model>/config.pbtxt`` if missing or different; True if written."""
        path = self.repository / model / CONFIG_FILE
        with contextlib.suppress(OSError, UnicodeDecodeError, LayoutError):
            if same_config(check_config_text(path.read_text(encoding="utf-8"), model), config):
                return False
        atomic_write(path, text_format.MessageToString(config).encode("utf-8"))
        return True

    def _load_exactly(self, model: str, config: Any, versions: list[int], log: Any) -> None:
        if config is None:
            raise LayoutError("no stored config.pbtxt for the served version", field=CONFIG_FILE)
        log.info("load", versions=versions)
        self.triton.load(model, config_to_json(config, versions=versions))
        self.triton.wait_ready(model, versions, self.settings.ready_timeout)

    def _swap(self, model: str, number: int, old: list[int], config: Any, log: Any) -> None:
        """Serve ``number`` instead of ``old`` without a moment with nothing READY.

        One load of ``[number]``: Triton keeps ``old`` serving until ``number`` is loaded and
        keeps it when the load fails; the index then confirms the switch.
        """
        if self._write_model_config(model, config):
            log.info("model_config_written")
        self._load_exactly(model, config, [number], log)
        if old and not self.triton.wait_not_ready(model, old, self.settings.ready_timeout):
            log.warning("old_version_still_ready", previous=old)

    def _record_failure(self, model: str, number: int, exc: BaseException, log: Any) -> None:
        reason = failure_reason(exc)
        previous = self._failures.get((model, number))
        attempts = (previous.attempts if previous else 0) + 1
        delay = min(self.settings.backoff_max, self.settings.backoff_initial * 2 ** (attempts - 1))
        self._failures[(model, number)] = _Failure(
            reason=reason, error=str(exc), attempts=attempts, next_attempt=self._clock() + delay
        )
        self.metrics.load_failures.labels(model=model, reason=reason).inc()
        log.error("version_failed", reason=reason, error=str(exc), attempt=attempts, retry_in=delay)

    # -- unload and garbage collection -------------------------------------------------------

    def _unload_undesired(self, desired: DesiredState, index: list[RepositoryEntry]) -> None:
        keep = {d.model for d in desired.models} | set(desired.unresolved)
        loaded = {e.name for e in index if e.state in ("READY", "LOADING") and e.name not in keep}
        for model in sorted(loaded):
            log = self._log.bind(model=model)
            try:
                self.triton.unload(model)
            except TritonUnavailable:
                raise
            except TritonError as exc:
                log.error("unload_failed", error=str(exc))
                continue
            self.metrics.served_version.labels(model=model).set(0)
            log.info("model_unloaded")

    def _remember(self, model: str, number: int) -> None:
        history = self._history.setdefault(model, self._disk_history(model))
        if number in history:
            history.remove(number)
        history.append(number)

    def _disk_history(self, model: str) -> list[int]:
        """Installed versions of ``model``, oldest install first (directory mtime)."""
        directory = self.repository / model
        if not directory.is_dir():
            return []
        found = []
        for path in directory.iterdir():
            if path.is_dir() and is_version_name(path.name):
                with contextlib.suppress(OSError):
                    found.append((path.stat().st_mtime, int(path.name)))
        return [n for _, n in sorted(found)]

    def _collect_garbage(
        self, model: str, current: int, index: list[RepositoryEntry], log: Any
    ) -> None:
        """Remove version directories other than ``current`` and the last kept previous ones.

        Versions the index shows READY, LOADING or UNLOADING are left for a later pass.
        """
        history = [v for v in self._history.get(model, []) if v != current]
        keep = {current, *history[len(history) - self.settings.keep_previous :]}
        busy = {e.version for e in index if e.name == model and e.state in _SERVING_STATES}
        for number in self._disk_history(model):
            if number in keep or number in busy:
                continue
            aside = self.repository / TRASH_DIR / f"{model}-{number}-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(self.repository / model / str(number), aside)
            except OSError as exc:
                log.warning("gc_failed", removed_version=number, error=str(exc))
                continue
            shutil.rmtree(aside, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                self._meta_path(model, number).unlink()
            self._history[model] = [v for v in self._history.get(model, []) if v != number]
            log.info("version_removed", removed_version=number)

    def _clean_scratch(self) -> None:
        """Remove leftovers of interrupted downloads and removals (at start)."""
        for name in (STAGING_DIR, TRASH_DIR):
            for child in (self.repository / name).iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        child.unlink()

    # -- reporting ------------------------------------------------------------------------------

    def _observe(self, desired: DesiredState, index: list[RepositoryEntry]) -> PodStatusReport:
        """The pod's observed state: served versions from the index plus failed desired ones."""
        models: dict[Key, ObservedModel] = {}
        wanted = {d.model: d.version for d in desired.models}
        for entry in index:
            if entry.version is None or entry.state not in _SERVING_STATES:
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
                    error=f"{failure.reason}: {failure.error}"[:MAX_ERROR_CHARS],
                )
                continue
            row = rows.get((model, number))
            if row is not None and row.state == "UNAVAILABLE" and row.reason != "unloaded":
                models[(model, number)] = ObservedModel(
                    model=model,
                    version=number,
                    state="UNAVAILABLE",
                    error=row.reason[:MAX_ERROR_CHARS] or None,
                )
        for model, number in wanted.items():
            ready = sorted(v for (m, v), o in models.items() if m == model and o.state == "READY")
            shown = number if number in ready else (ready[-1] if ready else 0)
            self.metrics.served_version.labels(model=model).set(shown)
        ordered = sorted(models.values(), key=lambda m: (m.model, m.version))
        report = PodStatusReport(models=ordered, agent=AGENT_NAME)
        self._last_report = report
        return report

    def _unavailable_report(self, desired: DesiredState, error: str) -> PodStatusReport:
        report = PodStatusReport(
            models=[
                ObservedModel(
                    model=d.model,
                    version=d.version,
                    state="UNAVAILABLE",
                    error=error[:MAX_ERROR_CHARS],
                )
                for d in desired.models
            ],
            agent=AGENT_NAME,
        )
        self._last_report = report
        return report

    def _send(self, report: PodStatusReport) -> bool:
        """PUT the report; on failure keep it as ``unreported``. True if the registry has it."""
        try:
            self.registry.report_pod_status(self.settings.service, self.settings.pod, report)
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

    # -- timing ---------------------------------------------------------------------------------

    def _outage_delay(self) -> float:
        attempts = max(self._outage_count, 1)
        return float(
            min(self.settings.backoff_max, self.settings.backoff_initial * 2 ** (attempts - 1))
        )

    def _next_delay(self) -> float:
        delay = self.settings.poll_interval
        now = self._clock()
        for failure in self._failures.values():
            delay = min(delay, max(failure.next_attempt - now, 0.01))
        return delay
