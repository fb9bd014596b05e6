"""The model lifecycle on the cluster, timed: job ``Succeeded`` → version, version → all pods.

Two rows (``python -m benchmarks.run --only lifecycle``; ``--quick`` for a smaller run):

- **registration lag**: from a training job's ``Succeeded`` to its version in the registry, on
  the real control plane (``infra.controlplane``) inside a loopback-only network namespace (this
  module re-executes itself under ``unshare --net`` as ``benchmarks.cluster`` does). The pinned
  PyTorchJob, Volcano Job and Fluid Dataset CRDs are applied; the lifecycle controller runs as a
  subprocess (``python -m glue.controller``) as the ServiceAccount ``ctl-system/controller`` with
  the chart's rights, the registry as a subprocess (``python -m glue.model_registry``, SQLite)
  with TokenReview authentication against the plane (the controller a ``controllers`` entry), and
  both share a local artifact root. The setup is the one of
  ``tests/cluster/test_controller_jobs.py`` (its RBAC, manifests and status bodies are imported).
  **No training operator runs and no job's pods run**: the benchmark writes each PyTorchJob's
  final status through the ``status`` subresource exactly as the training operator does
  (``Succeeded`` condition, ``completionTime``), after writing the job's output (a Triton model
  directory and ``metrics.json``) where the controller's convention says.
  Lag of one job = the version's ``created_at`` (the registry's clock, microseconds, set in the
  registering transaction) minus the wall-clock time at which the apiserver's answer to the
  status write was received (same machine, same clock). Two ways of submitting: **one at a
  time** (the next job's status is written once the previous job's version exists, asked of the
  registry every 10 ms) and **burst**
  (every job created first, then every status written back to back). Beside it, the
  controller's own histogram ``kubeai_controller_registration_lag_seconds`` over the same jobs
  (scraped from its ``/metrics`` before and after each way; quantiles interpolated as
  Prometheus' ``histogram_quantile``): it measures from ``status.completionTime``, which has
  one-second resolution (RFC 3339 without fractions), so it reads up to 1 s longer.
- **promotion → all pods serving**: ``PODS`` serving pods, each a real tritonserver (python
  backend) plus a serving agent (``glue.demo.processes.start_serving``, as ``swap.py`` does), one
  registry (open, SQLite), no control plane. Per promotion a new version is registered
  (``publish_model``: the artifacts uploaded, then the version registered; the clock starts when
  the registration's answer is received) and ``production`` is moved to it at once. Measured
  until every agent has reported the version READY and nothing else (the registry's observed
  state, polled every 50 ms) and until every Triton answers an inference with it (each pod
  probed every 20 ms by its own thread). Also from the alias move. The agents poll the registry
  every ``AGENT_POLL`` s, which bounds the delay from below.

Nothing here has a peer: the issue names none for these rows.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.cluster import (
    Samples,
    delta,
    histogram_quantile,
    parse_metrics,
    run_on_control_plane,
)
from benchmarks.support import (
    BenchmarkSkipped,
    namespace_arguments,
    namespace_main,
)
from benchmarks.swap import (
    AGENT_POLL,
    MODEL,
    SERVICE,
    TEAM,
    TrainedVersions,
    publish_version,
    train_versions,
)

Log = Callable[[str], None]

JOBS = 100
QUICK_JOBS = 20
PODS = 2
PROMOTIONS = 8
QUICK_PROMOTIONS = 3
LAG_METRIC = "kubeai_controller_registration_lag_seconds"
WAIT_SECONDS = 300.0


def _say(message: str) -> None:
    print(message, flush=True)


def summary(values: list[float]) -> dict[str, Any]:
    """Count, p50, p99, mean and max of ``values`` (seconds, rounded to ms; None when empty).
    p50/p99 by the nearest-rank method on the sorted values."""
    if not values:
        return {"count": 0, "p50": None, "p99": None, "mean": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, int(np.ceil(q * len(ordered))) - 1))]

    return {
        "count": len(ordered),
        "p50": round(rank(0.5), 3),
        "p99": round(rank(0.99), 3),
        "mean": round(statistics.fmean(ordered), 3),
        "max": round(ordered[-1], 3),
    }


# ---------------------------------------------------------------------------------------------
# row 1: job Succeeded -> version registered (in the namespace)


def lag_histogram(before: Samples, after: Samples) -> dict[str, Any]:
    """The controller's ``kubeai_controller_registration_lag_seconds`` between two scrapes:
    count, p50/p99 (interpolated as ``histogram_quantile``) and mean, in seconds; ``{"count":
    0}`` when nothing was observed in between."""
    buckets = {
        float(labels["le"]): increase
        for labels, increase in delta(before, after, f"{LAG_METRIC}_bucket")
    }
    total = sum(increase for _, increase in delta(before, after, f"{LAG_METRIC}_sum"))
    count = buckets.get(float("inf"), 0.0)
    if not count:
        return {"count": 0}
    p50, p99 = histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets)
    return {
        "count": int(count),
        "p50": None if p50 is None else round(p50, 3),
        "p99": None if p99 is None else round(p99, 3),
        "mean": round(total / count, 3),
    }


def measure_registration(workdir: Path, *, jobs: int, log: Log = _say) -> dict[str, Any]:
    """The registration-lag row on a fresh control plane (call inside a loopback-only
    namespace; raises ``NotIsolatedError`` outside one)."""
    from glue.artifacts.settings import ArtifactSettings
    from glue.artifacts.store import ArtifactStore
    from glue.demo.processes import ChildProcesses, start_registry
    from glue.model_registry import schemas
    from glue.model_registry.client import RegistryClient
    from infra.controlplane.build import installed
    from infra.controlplane.harness import ControlPlane
    from infra.controlplane.netns import require_loopback_only
    from tests.cluster import test_controller_jobs as ctl
    from tests.support.kubeapi import KubeApi, message
    from tests.support.net import free_port

    require_loopback_only()
    binaries = installed()
    for folder in ("plane", "state"):  # a fresh etcd and artifact root each run
        shutil.rmtree(workdir / folder, ignore_errors=True)
    tmp = workdir / "state"
    with ExitStack() as stack:
        plane = stack.enter_context(ControlPlane(workdir / "plane", binaries, timeout=300.0))
        log("  control plane up; CRDs, namespaces, RBAC ...")
        admin = stack.enter_context(plane.client(timeout=60.0))
        kube = KubeApi(admin)
        ctl.prepare_cluster(kube)
        tmp.mkdir(parents=True)
        ctl_token = ctl.write_credentials(kube, plane, tmp)
        artifacts = tmp / "artifacts"
        artifacts.mkdir()
        children = stack.enter_context(ChildProcesses(str(tmp), handle_signals=False))
        registry_url = start_registry(
            children,
            port=free_port(),
            state=tmp,
            log_path=tmp / "registry.log",
            env={
                "KUBEAI_REGISTRY_AUTH__KUBERNETES__ENABLED": "true",
                "KUBEAI_REGISTRY_AUTH__KUBERNETES__API_SERVER": plane.server,
                "KUBEAI_REGISTRY_AUTH__KUBERNETES__CA_FILE": str(plane.ca_cert),
                "KUBEAI_REGISTRY_AUTH__KUBERNETES__TOKEN_FILE": str(tmp / "registry-token"),
                "KUBEAI_REGISTRY_AUTH__CONTROLLERS": f'["{ctl.SYSTEM}/controller"]',
            },
        )
        store = ArtifactStore(ArtifactSettings(local_root=artifacts))
        root = "file://" + str(artifacts.resolve())
        client = stack.enter_context(
            RegistryClient(registry_url, team=ctl.TEAM, timeout=30.0, token=ctl_token)
        )
        client.ensure_model(schemas.ModelCreate(name=ctl.MODEL, team=ctl.TEAM))
        ctl.publish_digits_dataset(store, client, tmp)
        env = {
            **ctl.controller_env(tmp=tmp, registry_url=registry_url, artifacts=artifacts),
            **children.env,
        }
        controller = ctl.Controller(env=env, log=tmp / "controller.log")
        controller.start()
        stack.callback(lambda: controller.process is not None and controller.stop())
        metrics_url = f"http://127.0.0.1:{env['KUBEAI_CONTROLLER_METRICS_PORT']}/metrics"

        def scrape() -> Samples:
            return parse_metrics(httpx.get(metrics_url, timeout=10).text)

        def created(name: str) -> dict[str, Any]:
            return ctl._create(kube, ctl.pytorchjob(name))

        def write_status(job: dict[str, Any]) -> float:
            body = {**job, "status": ctl.final_status(job, succeeded=True)}
            response = admin.put(kube.object_path(job) + "/status", json=body)
            acknowledged = time.time()
            if not response.is_success:
                raise RuntimeError(f"status write refused: {message(response)}")
            return acknowledged

        def registered_at(uid: str) -> datetime | None:
            items = client.list_versions(ctl.MODEL, source_uid=uid).items
            return items[0].created_at if items else None

        def wait_versions(count: int) -> None:
            deadline = time.monotonic() + WAIT_SECONDS
            while client.list_versions(ctl.MODEL, limit=1).total < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{count} versions not registered within {WAIT_SECONDS:.0f} s; "
                        f"controller log:\n{controller.tail()}"
                    )
                time.sleep(0.1)

        # a warm-up job: the first registration pays for imports and connections
        warm = created("warm-up")
        ctl.write_job_output(root, warm, accuracy=0.5)
        write_status(warm)
        wait_versions(1)
        done = 1
        result: dict[str, Any] = {"jobs_per_way": jobs}
        for way in ("one_at_a_time", "burst"):
            log(f"  {jobs} PyTorchJobs, {way.replace('_', ' ')} ...")
            before = scrape()
            submitted = [created(f"{way.replace('_', '-')}-{i:04d}") for i in range(jobs)]
            for job in submitted:
                ctl.write_job_output(root, job, accuracy=0.9)
            acks: dict[str, float] = {}
            started = time.monotonic()
            for job in submitted:
                uid = job["metadata"]["uid"]
                acks[uid] = write_status(job)
                if way == "one_at_a_time":
                    deadline = time.monotonic() + WAIT_SECONDS
                    while registered_at(uid) is None:
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"no version for {uid}:\n{controller.tail()}")
                        time.sleep(0.01)
            written = time.monotonic() - started
            done += jobs
            wait_versions(done)
            elapsed = time.monotonic() - started
            time.sleep(1.0)  # the histogram is observed just after the registration
            lags = []
            for uid, ack in acks.items():
                at = registered_at(uid)
                if at is None:
                    raise RuntimeError(f"job {uid} has no version")
                lags.append(at.timestamp() - ack)
            versions = client.list_versions(ctl.MODEL, limit=500).items
            per_uid: dict[str, int] = {}
            for version in versions:
                per_uid[version.source.uid] = per_uid.get(version.source.uid, 0) + 1
            result[way] = {
                "lag_seconds": summary(lags),
                "negative_lags": sum(1 for v in lags if v < 0),
                "controller_histogram_seconds": lag_histogram(before, scrape()),
                "status_writes_seconds": round(written, 2),
                "first_write_to_last_version_seconds": round(elapsed, 2),
                "jobs_with_more_than_one_version": sum(1 for n in per_uid.values() if n > 1),
            }
            log(f"    lag {result[way]['lag_seconds']}")
        result["controller_log"] = str(controller.log)
    return result


def run_registration_row(*, workdir: Path, quick: bool, on_line: Log = _say) -> dict[str, Any]:
    """The registration-lag row in a fresh loopback-only namespace (a child process).

    Raises ``BenchmarkSkipped`` when the control plane binaries or ``unshare`` are missing,
    ``RuntimeError`` when the child fails.
    """
    return run_on_control_plane(
        "benchmarks.lifecycle", workdir=workdir, quick=quick, on_line=on_line
    )


# ---------------------------------------------------------------------------------------------
# row 2: version registered -> every pod serving it after promotion


class VersionProbe:
    """One thread per Triton: sends a one-row inference every ``interval`` s and records the
    first time each version answered (wall clock, ``time.time()``)."""

    def __init__(self, urls: list[str], x: np.ndarray, *, interval: float = 0.02) -> None:
        self.urls = urls
        self.x = x[:1]
        self.interval = interval
        self.first_seen: list[dict[int, float]] = [{} for _ in urls]
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(urls))
        ]

    def _run(self, index: int) -> None:
        import tritonclient.http as httpclient

        from glue.demo.loadgen import infer_once

        client = httpclient.InferenceServerClient(
            self.urls[index].removeprefix("http://"), network_timeout=10.0
        )
        try:
            while not self._stop.is_set():
                try:
                    _, version = infer_once(client, MODEL, self.x)
                    self.first_seen[index].setdefault(version, time.time())
                except Exception:
                    self.errors += 1
                self._stop.wait(self.interval)
        finally:
            client.close()

    def start(self) -> VersionProbe:
        """Start probing."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop probing and wait for the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def all_answer(self, version: int) -> float | None:
        """When the last Triton first answered with ``version`` (None until all have)."""
        times = [seen.get(version) for seen in self.first_seen]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)


def measure_promotions(
    workdir: Path, *, pods: int, promotions: int, log: Log = _say
) -> dict[str, Any]:
    """The promotion row (see the module docstring); raises ``BenchmarkSkipped`` when this
    machine cannot run the wheel's tritonserver."""
    from glue.artifacts.settings import ArtifactSettings
    from glue.artifacts.store import ArtifactStore
    from glue.demo.processes import ChildProcesses, start_registry, start_serving
    from glue.model_registry.client import RegistryClient
    from glue.triton.server import (
        TritonServerError,
        UnsupportedPlatform,
        find_pytriton_install,
        free_ports,
    )

    try:
        find_pytriton_install()
    except (UnsupportedPlatform, TritonServerError) as exc:
        raise BenchmarkSkipped(str(exc)) from exc
    state = workdir.resolve() / "promotion"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    log("  training v1/v2 once ...")
    trained: TrainedVersions = train_versions(state)
    artifacts = state / "artifacts"
    artifacts.mkdir()
    store = ArtifactStore(ArtifactSettings(local_root=artifacts))
    with ExitStack() as stack:
        children = stack.enter_context(ChildProcesses(str(state), handle_signals=False))
        (port,) = free_ports(1)
        registry_url = start_registry(
            children, port=port, state=state, log_path=state / "logs" / "registry.log", env={}
        )
        client = stack.enter_context(RegistryClient(registry_url, team=TEAM, timeout=30))

        def register(number: int) -> int:
            model_dir = trained.v1 if number % 2 else trained.v2
            return publish_version(store, client, model_dir, f"v{number}")

        register(1)
        log(f"  starting {pods} tritonservers + serving agents ...")
        urls = []
        names = [f"digits-bench-{i}" for i in range(pods)]
        for name in names:
            repository = state / name / "model-repository"
            repository.mkdir(parents=True)
            serving = start_serving(
                children,
                client,
                registry_url=registry_url,
                service=SERVICE,
                team=TEAM,
                model=MODEL,
                alias="production",
                pod=name,
                model_repository=repository,
                artifacts_root=artifacts,
                logs=state / name / "logs",
                env={},
                poll_interval=AGENT_POLL,
            )
            urls.append(serving.triton.http_url)

        def reported(version: int) -> bool:
            observed = client.get_service(SERVICE).observed
            ready = {(o.pod, o.version) for o in observed if o.state == "READY"}
            return ready == {(pod, version) for pod in names}

        client.set_alias(MODEL, "production", 1, reason="baseline")
        deadline = time.monotonic() + 180
        while not reported(1):
            if time.monotonic() > deadline:
                raise TimeoutError("v1 not served on every pod within 180 s")
            time.sleep(0.1)
        probe = VersionProbe(urls, trained.split.x_test).start()
        stack.callback(probe.stop)
        rows = []
        for step in range(promotions):
            time.sleep(1.0)
            number = step + 2
            log(f"  promotion {step + 1}/{promotions}: v{number} ...")
            version = register(number)
            registered = time.time()
            client.set_alias(MODEL, "production", version, reason="benchmark")
            moved = time.time()
            deadline = time.monotonic() + 120
            agents_ready: float | None = None
            while agents_ready is None or probe.all_answer(version) is None:
                if agents_ready is None and reported(version):
                    agents_ready = time.time()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"v{version} not served on every pod within 120 s")
                time.sleep(0.05)
            answering = probe.all_answer(version)
            assert answering is not None
            rows.append(
                {
                    "version": version,
                    "alias_move_seconds": round(moved - registered, 3),
                    "registered_to_agents_ready": round(agents_ready - registered, 3),
                    "registered_to_tritons_answer": round(answering - registered, 3),
                    "moved_to_agents_ready": round(agents_ready - moved, 3),
                    "moved_to_tritons_answer": round(answering - moved, 3),
                }
            )
        probe.stop()
    keys = (
        "registered_to_agents_ready",
        "registered_to_tritons_answer",
        "moved_to_agents_ready",
        "moved_to_tritons_answer",
    )
    return {
        "pods": pods,
        "promotions": promotions,
        "agent_poll_interval_seconds": AGENT_POLL,
        "probe_errors": probe.errors,
        **{key: summary([row[key] for row in rows]) for key in keys},
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------
# both rows


def run_lifecycle_benchmark(*, workdir: Path, quick: bool, on_line: Log = _say) -> dict[str, Any]:
    """Both rows; a row that cannot run on this machine is reported as skipped with the reason.

    Raises ``RuntimeError`` when a row fails.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    on_line("registration lag (control plane, controller, registry) ...")
    try:
        result["registration"] = run_registration_row(
            workdir=workdir / "registration", quick=quick, on_line=on_line
        )
    except BenchmarkSkipped as exc:
        result["registration"] = {"skipped": str(exc)}
    on_line(f"promotion → all {PODS} pods serving ...")
    try:
        result["promotion"] = measure_promotions(
            workdir,
            pods=PODS,
            promotions=QUICK_PROMOTIONS if quick else PROMOTIONS,
            log=on_line,
        )
    except BenchmarkSkipped as exc:
        result["promotion"] = {"skipped": str(exc)}
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.lifecycle [--quick] [--workdir DIR] [--out FILE]``: the
    registration-lag row, re-executed in a loopback-only namespace (``--in-namespace``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lifecycle", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_JOBS} jobs per way")
    namespace_arguments(parser, "lifecycle")
    args = parser.parse_args(argv)
    return namespace_main(
        args,
        lambda: run_registration_row(workdir=args.workdir, quick=args.quick),
        lambda: measure_registration(args.workdir, jobs=QUICK_JOBS if args.quick else JOBS),
    )


if __name__ == "__main__":
    sys.exit(main())
