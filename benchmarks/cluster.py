"""The real control plane (``infra.controlplane``) under load: start time, installs, scale, memory.

Rows (``python -m benchmarks.run --only cluster``; ``--quick`` for a smoke run):

- **start**: ``ControlPlane.start`` → the apiserver's ``/readyz`` ok (``ready_after_s``: PKI,
  etcd, apiserver) and → every component healthy and the ``default`` service account present,
  on a fresh work folder each time; median of 3 starts (each stopped again).
- **apply**: per example stack (``stacks/Pulumi.*.yaml``) on a fresh control plane with KWOK
  nodes for its platform's node pools, the seconds ``infra.controlplane.install`` takes to
  server-side apply the stack (``Installer.install``) and to see everything Available
  (``wait_available``); a team stack's platform is installed first, timed apart. Reported as
  not available, with the reason, when that module is absent from the tree.
- **scale**: 1,000 KWOK GPU nodes (the 8-GPU pool of the example platform stacks, through
  ``infra.controlplane.nodes.pool_nodes``; ``--quick``: 100) plus enough CPU nodes, 50 team
  namespaces x 200 bare Pods (``--quick``: 10 x 100) created concurrently over an HTTP/1.1
  keep-alive pool, scheduled by the real kube-scheduler. 80 % of the pods ask for one GPU (they
  tolerate the GPU taint and select the GPU pool), exactly filling the 8,000 GPUs; the other 20 %
  are CPU pods that select the CPU pool. 10,000 one-GPU pods would not fit on 8,000 GPUs: 2,000
  would stay Pending and the scheduler would spend the run retrying them.
  Bare Pods, not Deployments or Jobs: their controllers create pods at the controller manager's
  own client rate (``--kube-api-qps`` 20), which would be measured instead of the scheduler.
  Measured: client create rate and latency; pods scheduled per second from the first create to
  the last pod bound (a watch records when each pod is first seen with ``spec.nodeName``) and in
  steady state (the 10th to the 90th percentile of bind times); time until KWOK reports every
  pod Running; apiserver p99 request latency over the run from its own ``/metrics``; what
  limited the rate (kube-scheduler's client-side rate limiter wait, CPU seconds per process,
  apiserver requests by verb and resource); and placement checks (every pod bound, GPU pods only
  on GPU nodes, no node above its GPUs).
- **scale, held**: the same twice more on fresh control planes, with kube-scheduler stopped
  (SIGSTOP) while the pods are created and let go (SIGCONT) once they all exist, so it drains a
  full queue instead of keeping pace with the creates: once with its default client rate and
  once started with ``--kube-api-qps 1000`` (burst 2000; ``RaisedQpsControlPlane``, a
  benchmark-only variant), which shows what limits scheduling once 50/s does not.
- **peak RSS**: ``VmHWM`` of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
  KWOK at the end of the scale run, and their sum; the peak of the summed ``VmRSS`` sampled
  every 0.5 s is given beside it (the sum of per-process peaks is an upper bound of it).

p99 method (as Prometheus' ``histogram_quantile`` does): the
``apiserver_request_duration_seconds`` bucket counters are read before and after the scale run;
their increase, summed over every label but ``le`` and leaving out ``verb`` WATCH and CONNECT
(long-running), gives one cumulative histogram; rank = 0.99 x count; in the first bucket whose
cumulative count reaches the rank the value is interpolated linearly between the bucket's lower
and upper bound (lower bound 0 for the first bucket); a rank in the ``+Inf`` bucket yields the
largest finite bound. The same per verb.

Everything runs inside a loopback-only network namespace: outside one, this module re-executes
itself under ``unshare --net`` (+ ``ip link set lo up``) and refuses to run when that is
impossible (``BenchmarkSkipped`` with the reason from ``infra.controlplane.netns``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import math
import os
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.support import (
    ROOT,
    BenchmarkSkipped,
    RssSampler,
    mib,
    namespace_arguments,
    namespace_main,
    run_in_namespace,
)
from infra.config import GPU_RESOURCE, GPU_TAINT_KEY, NodePool, PlatformConfig
from infra.controlplane.build import BuildError, installed
from infra.controlplane.components import ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION
from infra.controlplane.harness import ControlPlane
from infra.controlplane.harness import _ready_nodes as ready_nodes
from infra.controlplane.nodes import pool_nodes, stack_pools

STACKS_DIR = ROOT / "stacks"
INSTALL_MODULE = "infra.controlplane.install"
#: Label on every object the scale row creates.
BENCH_LABEL = "kubeai.dev/bench"
STARTS = 3
#: kube-scheduler's default client rate (``--kube-api-qps``/``--kube-api-burst``, 50/100).
SCHEDULER_DEFAULT_QPS = 50
#: The scale rows: (result key, kube-scheduler ``--kube-api-qps`` or None for its default,
#: whether the scheduler is held (SIGSTOP) while the pods are created and released after).
SCALE_ROWS: tuple[tuple[str, int | None, bool], ...] = (
    ("scale", None, False),
    ("scale_held", None, True),
    ("scale_held_qps1000", 1000, True),
)
PODS_PER_CPU_NODE = 100
LONG_RUNNING_VERBS = frozenset({"WATCH", "CONNECT"})


@dataclass(frozen=True)
class ScaleSpec:
    """Size of the scale row: GPU nodes, teams and pods per team (``gpu_share`` of them GPU pods,
    one GPU each; the rest CPU pods on ``ceil(cpu pods / 100)`` CPU nodes)."""

    gpu_nodes: int = 1000
    teams: int = 50
    pods_per_team: int = 200
    gpu_share: float = 0.8
    #: Concurrent create requests of the client (one keep-alive connection each).
    concurrency: int = 16

    @property
    def pods(self) -> int:
        """Pods in all."""
        return self.teams * self.pods_per_team

    @property
    def gpu_pods_per_team(self) -> int:
        """One-GPU pods per team."""
        return round(self.pods_per_team * self.gpu_share)

    @property
    def cpu_pods(self) -> int:
        """CPU pods in all."""
        return self.teams * (self.pods_per_team - self.gpu_pods_per_team)

    @property
    def cpu_nodes(self) -> int:
        """CPU nodes for the CPU pods (at least one)."""
        return max(1, math.ceil(self.cpu_pods / PODS_PER_CPU_NODE))


SCALE = ScaleSpec()
QUICK_SCALE = ScaleSpec(gpu_nodes=100, teams=10, pods_per_team=100)

Log = Callable[[str], None]


def _say(message: str) -> None:
    print(message, flush=True)


def _seconds(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------------------------------------
# Prometheus text: samples, counter deltas, histogram_quantile


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, keyed by (sample name, label set)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def delta(before: Samples, after: Samples, name: str) -> list[tuple[dict[str, str], float]]:
    """Increase of every sample called ``name`` between two scrapes (labels, increase)."""
    return [
        (dict(labels), value - before.get((sample, labels), 0.0))
        for (sample, labels), value in after.items()
        if sample == name
    ]


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile of a cumulative histogram ``{upper bound: count}`` (``inf`` included),
    interpolated as Prometheus' ``histogram_quantile`` does; None when it holds no observation.

    Raises ``ValueError`` for ``q`` outside [0, 1] or without an ``inf`` bucket.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], got {q}")
    if math.inf not in buckets:
        raise ValueError("a histogram needs its +Inf bucket")
    bounds = sorted(buckets)
    total = buckets[math.inf]
    if total <= 0:
        return None
    rank = q * total
    index = next(i for i, bound in enumerate(bounds) if buckets[bound] >= rank)
    if bounds[index] == math.inf:
        return bounds[-2] if len(bounds) > 1 else None
    upper = bounds[index]
    lower = bounds[index - 1] if index > 0 else 0.0
    below = buckets[bounds[index - 1]] if index > 0 else 0.0
    if index == 0 and upper <= 0:
        return upper
    in_bucket = buckets[upper] - below
    return lower + (upper - lower) * ((rank - below) / in_bucket if in_bucket else 1.0)


def request_latency(before: Samples, after: Samples) -> dict[str, Any]:
    """apiserver request latency over a window: count and p50/p99 (ms), all non-long-running
    verbs together and per verb, from ``apiserver_request_duration_seconds``."""
    by_verb: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, increase in delta(before, after, "apiserver_request_duration_seconds_bucket"):
        verb = labels.get("verb", "")
        if verb in LONG_RUNNING_VERBS:
            continue
        bound = float(labels["le"])
        by_verb[verb][bound] += increase
        by_verb["all"][bound] += increase

    def summary(buckets: dict[float, float]) -> dict[str, Any]:
        p50, p99 = histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets)
        return {
            "requests": int(buckets.get(math.inf, 0)),
            "p50_ms": None if p50 is None else round(p50 * 1000, 1),
            "p99_ms": None if p99 is None else round(p99 * 1000, 1),
        }

    overall = summary(by_verb.pop("all", {math.inf: 0.0}))
    return {
        **overall,
        "by_verb": {
            verb: summary(b) for verb, b in sorted(by_verb.items()) if b.get(math.inf, 0) > 0
        },
        "method": (
            "apiserver_request_duration_seconds bucket increase over the run, verbs WATCH and "
            "CONNECT left out, summed over all other labels; quantile interpolated linearly "
            "within the bucket as Prometheus' histogram_quantile"
        ),
    }


def request_counts(before: Samples, after: Samples, top: int = 12) -> list[dict[str, Any]]:
    """The ``top`` (verb, resource) pairs by requests served over a window
    (``apiserver_request_total``), with their share of all requests."""
    counts: defaultdict[tuple[str, str], float] = defaultdict(float)
    for labels, increase in delta(before, after, "apiserver_request_total"):
        resource = labels.get("resource", "") + (
            f"/{labels['subresource']}" if labels.get("subresource") else ""
        )
        counts[(labels.get("verb", ""), resource)] += increase
    total = sum(counts.values()) or 1.0
    return [
        {"verb": v, "resource": r, "requests": int(n), "share": round(n / total, 3)}
        for (v, r), n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    ]


# ---------------------------------------------------------------------------------------------
# processes of the control plane


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it has exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every user's processes included
    (``/proc/stat``: busy = all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    tick = os.sysconf("SC_CLK_TCK")
    return (total - fields[3] - fields[4]) / tick, total / tick


def cpu_by_process(plane: ControlPlane) -> dict[str, float]:
    """CPU seconds used so far by each control plane process and by this benchmark process."""
    out = {p.name: _cpu_seconds(p.popen.pid) for p in plane.processes}
    out["benchmark client"] = _cpu_seconds(os.getpid())
    return out


def peak_rss(plane: ControlPlane) -> dict[str, Any]:
    """``VmHWM`` per control plane process (MiB) and their sum."""
    peaks = plane.peak_rss_bytes()
    return {
        "by_process_mib": {name: mib(value) for name, value in peaks.items()},
        "sum_of_peaks_mib": mib(sum(peaks.values())),
    }


def _secure_port(plane: ControlPlane, name: str) -> int:
    process = next(p for p in plane.processes if p.name == name)
    flag = next(a for a in process.argv if a.startswith("--secure-port="))
    return int(flag.split("=", 1)[1])


def _scrape(http: httpx.Client, url: str) -> Samples:
    response = http.get(url)
    response.raise_for_status()
    return parse_metrics(response.text)


def _verify(plane: ControlPlane) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(plane.ca_cert))


# ---------------------------------------------------------------------------------------------
# start


def measure_starts(workdir: Path, binaries: dict[str, Path], count: int, log: Log) -> dict:
    """``count`` fresh starts and stops: seconds to ``/readyz`` and to everything up."""
    runs: list[dict[str, float]] = []
    for index in range(count):
        plane = ControlPlane(workdir / f"start-{index}", binaries, timeout=300.0)
        started = time.monotonic()
        with plane:
            up = time.monotonic() - started
            runs.append(
                {
                    "readyz_seconds": round(plane.ready_after_s, 2),
                    "all_up_seconds": round(up, 2),
                    "load_average_1m": round(os.getloadavg()[0], 2),
                }
            )
        log(f"  start {index + 1}/{count}: /readyz {plane.ready_after_s:.2f} s, all up {up:.2f} s")
    return {
        "runs": runs,
        "readyz_seconds_median": round(statistics.median(r["readyz_seconds"] for r in runs), 2),
        "all_up_seconds_median": round(statistics.median(r["all_up_seconds"] for r in runs), 2),
        "measured": (
            "ControlPlane.start on a fresh work folder: PKI written, etcd started, apiserver "
            "/readyz ok (readyz); then controller manager and scheduler /healthz ok, KWOK started "
            "and the default service account created (all up)"
        ),
    }


# ---------------------------------------------------------------------------------------------
# apply: every example stack


def example_stacks(stacks_dir: Path = STACKS_DIR) -> list[str]:
    """Names of the example stacks, platform stacks first."""
    from infra.render import load_stack

    names = sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in stacks_dir.glob("Pulumi.*.yaml")
    )
    return sorted(names, key=lambda n: not isinstance(load_stack(n, stacks_dir)[0], PlatformConfig))


def installer_missing() -> str | None:
    """Why the stack rows cannot run (the installer module is absent), or None."""
    if importlib.util.find_spec(INSTALL_MODULE) is None:
        return f"installer missing: {INSTALL_MODULE} is not in this tree"
    return None


def measure_apply(
    workdir: Path, binaries: dict[str, Path], log: Log, stacks: list[str] | None = None
) -> dict[str, Any]:
    """Seconds to install each example stack (or each of ``stacks``) and see it Available, on
    its own control plane.

    Follows the cluster tests' sequence with ``infra.controlplane.install``: ``plans_for(stack,
    ...)`` (``[platform]`` or ``[platform, team]``), KWOK nodes from the platform plan's
    ``nodes``, then per plan ``Installer(api).install(plan)`` (server-side apply in dependency
    order), ``remove_webhooks(plan)`` and ``wait_available(api, plans so far)``. A team stack's
    platform is installed first and timed apart. Per stack: apply seconds, apply → all Available
    seconds, objects applied, rejections and workloads not Available (both 0 when it works).
    """
    missing = installer_missing()
    if missing:
        return {"not_available": missing}
    install = importlib.import_module(INSTALL_MODULE)
    rows: list[dict[str, Any]] = []
    for stack in stacks or example_stacks():
        row: dict[str, Any] = {"stack": stack}
        folder = workdir / f"apply-{stack}"
        try:
            plans = install.plans_for(stack, folder / "render", stacks_dir=STACKS_DIR)
            row["platform_stack"] = plans[0].stack if len(plans) > 1 else None
            with ControlPlane(folder, binaries, timeout=300.0) as plane:
                plane.add_nodes(plans[0].nodes)
                with plane.client(timeout=60.0) as api:
                    installer = install.Installer(api)
                    done: list[Any] = []
                    for plan in plans:
                        started = time.monotonic()
                        report = installer.install(plan)
                        installer.remove_webhooks(plan)
                        applied = time.monotonic() - started
                        done.append(plan)
                        problems = install.wait_available(api, done, timeout=600.0)
                        total = time.monotonic() - started
                        if plan.stack != stack:  # the team stack's platform
                            row["platform_install_seconds"] = round(total, 2)
                            continue
                        row["apply_seconds"] = round(applied, 2)
                        row["apply_to_available_seconds"] = round(total, 2)
                        row["objects_applied"] = len(report.applied)
                        row["rejections"] = len(report.rejections)
                        row["not_available"] = sorted(problems)
                row["peak_rss"] = peak_rss(plane)
        except Exception as exc:  # one stack failing must not hide the others' figures
            row["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            log(f"  {stack}: FAILED: {row['error'][:300]}")
        else:
            log(
                f"  {stack}: applied in {row['apply_seconds']} s, all Available after "
                f"{row['apply_to_available_seconds']} s ({row['rejections']} rejections, "
                f"{len(row['not_available'])} not Available)"
            )
        rows.append(row)
    return {"rows": rows}


# ---------------------------------------------------------------------------------------------
# scale


def scale_pools(stacks_dir: Path = STACKS_DIR) -> tuple[NodePool, NodePool]:
    """(8-GPU pool, CPU pool) of the first example platform stack that has an 8-GPU pool.

    Raises ``LookupError`` when no example platform stack has one.
    """
    for stack in example_stacks(stacks_dir):
        try:
            pools = stack_pools(stack, stacks_dir)
        except ValueError:  # a team stack
            continue
        gpu = [p for p in pools if p.is_gpu and p.gpus_per_node == 8]
        cpu = [p for p in pools if not p.is_gpu]
        if gpu and cpu:
            return gpu[0], cpu[0]
    raise LookupError("no example platform stack has an 8-GPU node pool and a CPU pool")


def namespace_name(team: int) -> str:
    """Namespace of team ``team``: ``bench-team-00``..."""
    return f"bench-team-{team:02d}"


def pod_manifest(name: str, pool: NodePool, *, gpu: bool) -> dict[str, Any]:
    """A bare Pod selecting ``pool``; a GPU pod asks one GPU and tolerates the GPU taint."""
    requests: dict[str, str] = {"cpu": "100m", "memory": "64Mi"}
    limits: dict[str, str] = {}
    if gpu:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = "1"
    spec: dict[str, Any] = {
        "nodeSelector": dict(pool.effective_labels),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "main",
                "image": "registry.invalid/noop:1",
                "resources": {"requests": requests, **({"limits": limits} if limits else {})},
            }
        ],
    }
    if gpu:
        spec["tolerations"] = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {BENCH_LABEL: "scale", "kubeai.dev/kind": "gpu" if gpu else "cpu"},
        },
        "spec": spec,
    }


def scale_pods(spec: ScaleSpec, gpu_pool: NodePool, cpu_pool: NodePool) -> list[tuple[str, dict]]:
    """(namespace, Pod) for every pod, teams interleaved so they all progress together."""
    out: list[tuple[str, dict]] = []
    for index in range(spec.pods_per_team):
        gpu = index < spec.gpu_pods_per_team
        for team in range(spec.teams):
            pod = pod_manifest(
                f"{'gpu' if gpu else 'cpu'}-{index:04d}", gpu_pool if gpu else cpu_pool, gpu=gpu
            )
            out.append((namespace_name(team), pod))
    return out


class PodWatch:
    """Watches the benchmark's pods in a thread; records (monotonic) when each is first seen
    bound to a node and first seen Running. Reconnects from the last resourceVersion."""

    def __init__(self, plane: ControlPlane, resource_version: str) -> None:
        self.plane = plane
        self.resource_version = resource_version
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.events = 0
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-watch", daemon=True)

    def start(self) -> PodWatch:
        """Start watching."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (the thread ends with its next event or read timeout)."""
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._watch()
            except (httpx.HTTPError, json.JSONDecodeError):
                if not self._stop.is_set():
                    self.reconnects += 1
                    time.sleep(0.2)

    def _watch(self) -> None:
        params = {
            "watch": "1",
            "labelSelector": f"{BENCH_LABEL}=scale",
            "resourceVersion": self.resource_version,
            "timeoutSeconds": "3600",
        }
        with (
            self.plane.client(timeout=10.0) as api,
            api.stream("GET", "/api/v1/pods", params=params) as response,
        ):
            response.raise_for_status()
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if not line:
                    continue
                now = time.monotonic()
                event = json.loads(line)
                pod = event.get("object", {})
                if event.get("type") == "ERROR":
                    raise httpx.HTTPError(f"watch error: {pod.get('message')}")
                self.events += 1
                meta = pod.get("metadata", {})
                self.resource_version = meta.get("resourceVersion", self.resource_version)
                key = f"{meta.get('namespace')}/{meta.get('name')}"
                if pod.get("spec", {}).get("nodeName"):
                    self.bound.setdefault(key, now)
                if pod.get("status", {}).get("phase") == "Running":
                    self.running.setdefault(key, now)


async def _create_all(
    plane: ControlPlane, items: list[tuple[str, dict]], concurrency: int
) -> tuple[dict[str, Any], list[float]]:
    """POST every pod with ``concurrency`` workers over one keep-alive pool: client figures and
    the (monotonic) time each accepted create returned."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    created: list[float] = []
    failures: list[str] = []
    queue: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    async with httpx.AsyncClient(
        base_url=plane.server,
        verify=_verify(plane),
        headers={"Authorization": f"Bearer {plane.token}"},
        timeout=60.0,
        limits=limits,
        trust_env=False,
    ) as api:

        async def worker() -> None:
            while not queue.empty():
                namespace, pod = queue.get_nowait()
                began = time.monotonic()
                try:
                    response = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod)
                except httpx.HTTPError as exc:
                    failures.append(f"{namespace}/{pod['metadata']['name']}: {exc!r}")
                    continue
                done = time.monotonic()
                latencies.append(done - began)
                if response.status_code == 201:
                    created.append(done)
                else:
                    failures.append(f"{namespace}/{pod['metadata']['name']}: {response.text[:200]}")

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.monotonic() - started
    latencies.sort()
    figures = {
        "created": len(created),
        "failures": len(failures),
        "first_failures": failures[:5],
        "seconds": round(seconds, 2),
        "creates_per_second": round(len(latencies) / seconds, 1) if seconds else None,
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
            "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
        },
        "concurrency": concurrency,
        "http": "HTTP/1.1, keep-alive pool of one connection per worker (httpx.AsyncClient)",
    }
    return figures, created


def _wait_nodes_ready(plane: ControlPlane, names: set[str], *, timeout: float) -> None:
    """Wait until every node in ``names`` is Ready and schedulable, listing every 2 s.

    ``ControlPlane.add_nodes(wait=True)`` lists every 0.1 s with a 5 s client timeout: right
    for a few nodes, but a list of 1,000 KWOK nodes is about 8 MB, so here the list is paced.
    """
    deadline = time.monotonic() + timeout
    with plane.client(timeout=120.0) as api:
        while not names <= ready_nodes(api.get("/api/v1/nodes").json()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(names)} KWOK nodes not Ready after {timeout:.0f} s")
            time.sleep(2.0)


def _wait_service_accounts(api: httpx.Client, namespaces: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        items = api.get(
            "/api/v1/serviceaccounts", params={"fieldSelector": "metadata.name=default"}
        ).json()["items"]
        if namespaces <= {item["metadata"]["namespace"] for item in items}:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("default service accounts of the team namespaces did not appear")
        time.sleep(0.2)


def _list_pods(api: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {"labelSelector": f"{BENCH_LABEL}=scale", "limit": "1000"}
    while True:
        page = api.get("/api/v1/pods", params=params, timeout=120.0).json()
        items += page["items"]
        token = page.get("metadata", {}).get("continue")
        if not token:
            return items
        params["continue"] = token


def placement(pods: list[dict[str, Any]], gpu_nodes: set[str], gpus_per_node: int) -> dict:
    """Checks on the final pods: all bound, GPU pods only on GPU nodes, CPU pods never on one,
    no node holding more GPU pods than it has GPUs."""
    per_node: Counter[str] = Counter()
    unbound = misplaced = 0
    for pod in pods:
        node = pod["spec"].get("nodeName")
        gpu = pod["metadata"]["labels"].get("kubeai.dev/kind") == "gpu"
        if not node:
            unbound += 1
            continue
        if gpu != (node in gpu_nodes):
            misplaced += 1
        if gpu:
            per_node[node] += 1
    return {
        "pods": len(pods),
        "unbound": unbound,
        "misplaced": misplaced,
        "nodes_over_gpu_capacity": sum(1 for n in per_node.values() if n > gpus_per_node),
        "gpu_nodes_used": len(per_node),
    }


def _rate(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 1) if seconds else None


@dataclass
class RaisedQpsControlPlane(ControlPlane):
    """The harness's control plane with kube-scheduler's client rate raised to
    ``--kube-api-qps=scheduler_qps`` (burst twice that): a benchmark-only variant that shows
    what limits scheduling once the default 50/s does not."""

    scheduler_qps: int = 1000

    def _component_args(self, name: str, port: int) -> list[str]:
        args = super()._component_args(name, port)
        if name == "kube-scheduler":
            qps = self.scheduler_qps
            args += [f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}"]
        return args


def measure_scale(
    workdir: Path,
    binaries: dict[str, Path],
    spec: ScaleSpec,
    log: Log,
    *,
    scheduler_qps: int | None = None,
    held: bool = False,
) -> dict[str, Any]:
    """The scale row and the control plane's peak RSS over it (see the module docstring);
    ``scheduler_qps`` raises kube-scheduler's client rate (None: its default, 50); ``held``
    stops the scheduler (SIGSTOP) while the pods are created and lets it go (SIGCONT) once they
    all exist, so it drains a full queue instead of keeping pace with the creates."""
    gpu_pool, cpu_pool = scale_pools()
    out: dict[str, Any] = {"spec": {**asdict(spec), "pods": spec.pods, "cpu_nodes": spec.cpu_nodes}}
    out["spec"]["scheduler_kube_api_qps"] = scheduler_qps or f"default ({SCHEDULER_DEFAULT_QPS})"
    out["spec"]["gpu_pool"] = {"name": gpu_pool.name, "gpus_per_node": gpu_pool.gpus_per_node}
    out["spec"]["pod_kind"] = "bare Pods (no controller between the client and the scheduler)"
    out["spec"]["scheduler_held_during_creates"] = held
    plane: ControlPlane
    folder = workdir / (
        "scale" + ("-held" if held else "") + (f"-qps{scheduler_qps}" if scheduler_qps else "")
    )
    if scheduler_qps:
        plane = RaisedQpsControlPlane(folder, binaries, timeout=900.0, scheduler_qps=scheduler_qps)
    else:
        plane = ControlPlane(folder, binaries, timeout=900.0)
    with plane:
        sampler = RssSampler(
            lambda: sum(_rss_bytes(p.popen.pid) for p in plane.processes), interval=0.5
        ).start()
        try:
            out.update(_scale_run(plane, spec, gpu_pool, cpu_pool, log, scheduler_qps, held))
        finally:
            sampler.stop()
        out["peak_rss"] = {
            **peak_rss(plane),
            "peak_of_sum_mib": mib(max((v for _, v in sampler.samples), default=0)),
            "sampled_every_seconds": sampler.interval,
        }
    with contextlib.suppress(OSError):  # etcd's data: hundreds of MiB, the logs stay
        subprocess.run(["rm", "-rf", str(plane.workdir / "etcd")], check=False)
    return out


def _scale_run(
    plane: ControlPlane,
    spec: ScaleSpec,
    gpu_pool: NodePool,
    cpu_pool: NodePool,
    log: Log,
    qps: int | None,
    held: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    gpu_manifests = pool_nodes(gpu_pool, spec.gpu_nodes)
    started = time.monotonic()
    names = set(
        plane.add_nodes([*gpu_manifests, *pool_nodes(cpu_pool, spec.cpu_nodes)], wait=False)
    )
    out["nodes_created_seconds"] = round(time.monotonic() - started, 2)
    _wait_nodes_ready(plane, names, timeout=plane.timeout)
    out["nodes_ready_seconds"] = round(time.monotonic() - started, 2)
    log(
        f"  {spec.gpu_nodes} GPU + {spec.cpu_nodes} CPU KWOK nodes created after "
        f"{out['nodes_created_seconds']} s, Ready and untainted after "
        f"{out['nodes_ready_seconds']} s"
    )
    namespaces = {namespace_name(team) for team in range(spec.teams)}
    with plane.client(timeout=60.0) as api:
        for namespace in sorted(namespaces):
            body = {"metadata": {"name": namespace, "labels": {BENCH_LABEL: "scale"}}}
            api.post("/api/v1/namespaces", json=body).raise_for_status()
        _wait_service_accounts(api, namespaces, timeout=300.0)
        listed = api.get(
            "/api/v1/pods", params={"labelSelector": f"{BENCH_LABEL}=scale", "limit": "1"}
        ).json()
    items = scale_pods(spec, gpu_pool, cpu_pool)
    watch = PodWatch(plane, listed["metadata"]["resourceVersion"]).start()
    scheduler = f"https://127.0.0.1:{_secure_port(plane, 'kube-scheduler')}/metrics"
    with httpx.Client(
        verify=_verify(plane),
        headers={"Authorization": f"Bearer {plane.token}"},
        timeout=60.0,
        trust_env=False,
    ) as http:
        api_before = _scrape(http, f"{plane.server}/metrics")
        sched_before = _scrape(http, scheduler)
        cpu_before, machine_before = cpu_by_process(plane), machine_cpu()
        load_before = os.getloadavg()
        scheduler_pid = next(p.popen.pid for p in plane.processes if p.name == "kube-scheduler")
        log(
            f"  creating {len(items)} pods in {spec.teams} namespaces"
            + (" (kube-scheduler held) ..." if held else " ...")
        )
        t0 = time.monotonic()
        try:
            if held:
                os.kill(scheduler_pid, signal.SIGSTOP)
            out["client"], created = asyncio.run(_create_all(plane, items, spec.concurrency))
        finally:
            if held:
                os.kill(scheduler_pid, signal.SIGCONT)
        released = time.monotonic() - t0 if held else None
        log(
            f"  created {out['client']['created']} pods in {out['client']['seconds']} s "
            f"({out['client']['creates_per_second']}/s, {out['client']['failures']} failures)"
            + (", kube-scheduler released" if held else "")
        )
        expected = out["client"]["created"]
        deadline = time.monotonic() + max(600.0, spec.pods / 10)
        last_report = time.monotonic()
        while time.monotonic() < deadline and (
            len(watch.bound) < expected or len(watch.running) < expected
        ):
            time.sleep(0.5)
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                log(
                    f"    {time.monotonic() - t0:6.0f} s: {len(watch.bound)} bound, "
                    f"{len(watch.running)} Running, load {os.getloadavg()[0]:.1f}"
                )
        t_end = time.monotonic()
        api_after = _scrape(http, f"{plane.server}/metrics")
        sched_after = _scrape(http, scheduler)
        cpu_after, machine_after = cpu_by_process(plane), machine_cpu()
        load_after = os.getloadavg()
    watch.stop()
    with plane.client(timeout=120.0) as api:
        final = _list_pods(api)
    out["placement"] = placement(
        final, {n["metadata"]["name"] for n in gpu_manifests}, gpu_pool.gpus_per_node
    )
    bound = sorted(t - t0 for t in watch.bound.values())
    running = sorted(t - t0 for t in watch.running.values())
    out["scheduling"] = _scheduling_figures(bound, running, expected, released)
    out["scheduling"].update(backlog([t - t0 for t in created], bound))
    out["scheduling"]["watch"] = {"events": watch.events, "reconnects": watch.reconnects}
    out["window_seconds"] = round(t_end - t0, 2)
    out["apiserver_latency"] = request_latency(api_before, api_after)
    out["apiserver_requests_top"] = request_counts(api_before, api_after)
    out["limits"] = _limits(
        window=t_end - t0,
        bound_seconds=out["scheduling"]["first_create_to_last_bound_seconds"],
        cpu={k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after},
        machine=(machine_after[0] - machine_before[0], machine_after[1] - machine_before[1]),
        scheduling=out["scheduling"],
        scheduler_qps=qps,
        scheduler=(sched_before, sched_after),
        apiserver=(api_before, api_after),
    )
    out["load_average"] = {
        "before": [round(v, 2) for v in load_before],
        "after": [round(v, 2) for v in load_after],
    }
    log(
        f"  {len(bound)} pods bound: {out['scheduling']['pods_per_second_overall']}/s overall, "
        f"{out['scheduling']['pods_per_second_steady']}/s steady; apiserver p99 "
        f"{out['apiserver_latency']['p99_ms']} ms"
    )
    return out


def _percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))]


def backlog(created: list[float], bound: list[float]) -> dict[str, Any]:
    """How far binding trailed creation: the most pods created but not yet bound at any moment,
    and the seconds from the last create returning to the last bind (times in seconds)."""
    events = sorted([(t, 1) for t in created] + [(t, -1) for t in bound])
    waiting = peak = 0
    for _, step in events:
        waiting += step
        peak = max(peak, waiting)
    lag = bound[-1] - max(created) if created and bound else None
    return {"max_backlog_pods": peak, "last_create_to_last_bound_seconds": _seconds(lag)}


def _scheduling_figures(
    bound: list[float], running: list[float], expected: int, released: float | None = None
) -> dict[str, Any]:
    """Rates from bind times (seconds since the first create, sorted); ``released``: when a
    held scheduler was let go (then also the rate from that moment to the last bind)."""
    out: dict[str, Any] = {"pods_created": expected, "pods_bound": len(bound)}
    out["scheduler_released_at_seconds"] = _seconds(released)
    out["pods_per_second_after_release"] = (
        _rate(len(bound), bound[-1] - released) if released is not None and bound else None
    )
    out["pods_running"] = len(running)
    out["first_create_to_last_bound_seconds"] = _seconds(bound[-1]) if bound else None
    out["first_create_to_all_running_seconds"] = (
        _seconds(running[-1]) if running and len(running) >= expected else None
    )
    out["pods_per_second_overall"] = _rate(len(bound), bound[-1] if bound else None)
    if len(bound) >= 10:
        t10, t90 = _percentile(bound, 0.1), _percentile(bound, 0.9)
        count = int(len(bound) * 0.9) - int(len(bound) * 0.1)
        out["pods_per_second_steady"] = _rate(count, t90 - t10)
        out["steady_window_seconds"] = [round(t10, 2), round(t90, 2)]
    else:
        out["pods_per_second_steady"] = None
    return out


def _limits(
    *,
    window: float,
    bound_seconds: float | None,
    cpu: dict[str, float],
    machine: tuple[float, float],
    scheduling: dict[str, Any],
    scheduler_qps: int | None,
    scheduler: tuple[Samples, Samples],
    apiserver: tuple[Samples, Samples],
) -> dict[str, Any]:
    """Evidence of what limited the scheduling rate, and a one-line reading of it."""
    sched_before, sched_after = scheduler
    throttled = sum(
        v
        for _, v in delta(
            sched_before, sched_after, "rest_client_rate_limiter_duration_seconds_sum"
        )
    )
    throttled_calls = sum(
        v
        for _, v in delta(
            sched_before, sched_after, "rest_client_rate_limiter_duration_seconds_count"
        )
    )
    client_requests: defaultdict[str, float] = defaultdict(float)
    for labels, v in delta(sched_before, sched_after, "rest_client_requests_total"):
        client_requests[labels.get("method", "")] += v
    attempts: defaultdict[str, float] = defaultdict(float)
    for labels, v in delta(sched_before, sched_after, "scheduler_schedule_attempts_total"):
        attempts[labels.get("result", "")] += v
    algorithm = delta(
        sched_before, sched_after, "scheduler_scheduling_algorithm_duration_seconds_sum"
    )
    algorithm_count = delta(
        sched_before, sched_after, "scheduler_scheduling_algorithm_duration_seconds_count"
    )
    api_before, api_after = apiserver
    rejected = sum(
        v for _, v in delta(api_before, api_after, "apiserver_flowcontrol_rejected_requests_total")
    )
    cores = len(os.sched_getaffinity(0))
    used = sum(cpu.values())
    span = bound_seconds or window
    scheduler_requests = sum(client_requests.values())
    out: dict[str, Any] = {
        "cpu_seconds_by_process": {k: round(v, 1) for k, v in sorted(cpu.items())},
        "cpu_seconds_total": round(used, 1),
        "cpu_seconds_available": round(window * cores, 1),
        "cores": cores,
        "scheduler": {
            "client_rate_limiter_wait_seconds": round(throttled, 1),
            "client_rate_limiter_calls": int(throttled_calls),
            "client_requests_by_method": {k: int(v) for k, v in client_requests.items()},
            "client_requests_per_second": _rate(int(scheduler_requests), span),
            "default_qps": SCHEDULER_DEFAULT_QPS,
            "schedule_attempts": {k: int(v) for k, v in attempts.items()},
            "algorithm_seconds_total": round(sum(v for _, v in algorithm), 2),
            "algorithm_ms_mean": round(
                1000 * sum(v for _, v in algorithm) / max(1.0, sum(v for _, v in algorithm_count)),
                2,
            ),
        },
        "apiserver_flowcontrol_rejected": int(rejected),
    }
    machine_busy = machine[0] / machine[1] if machine[1] else 0.0
    out["machine_cpu_busy_share"] = round(machine_busy, 3)
    out["machine_cpu_busy_share_note"] = (
        "/proc/stat over the run, every process on the machine (other users' too)"
    )
    mean_wait = throttled / throttled_calls if throttled_calls else 0.0
    out["scheduler"]["client_rate_limiter_mean_wait_seconds"] = round(mean_wait, 3)
    qps = scheduler_qps or SCHEDULER_DEFAULT_QPS
    steady_rate = scheduling["pods_per_second_steady"]
    reasons: list[str] = []
    lag = scheduling["last_create_to_last_bound_seconds"]
    if scheduling["scheduler_released_at_seconds"] is None and lag is not None and lag <= 2.0:
        reasons.append(
            f"pod creation: the scheduler kept pace with the creates (the last pod was bound "
            f"{lag:.1f} s after the last create returned; at most "
            f"{scheduling['max_backlog_pods']} waiting), so the create rate limited it"
        )
    elif mean_wait > 0.05:
        reasons.append(
            f"kube-scheduler's client-side rate limit (--kube-api-qps {qps}, burst {2 * qps}, "
            f"for the binding client and again for the events client): "
            f"{steady_rate} pods/s steady; its requests waited {mean_wait:.2f} s each on average "
            "in the limiter"
        )
    if machine_busy > 0.85:
        top = max(cpu, key=lambda k: cpu[k])
        reasons.append(
            f"CPU: the machine's {cores} cores were {machine_busy:.0%} busy (the control plane "
            f"and the client {used:.0f} of {window * cores:.0f} core-seconds, most of it "
            f"{top}: {cpu[top]:.0f} s; the rest other users)"
        )
    if not reasons:
        reasons.append(
            f"neither the scheduler's rate limiter (mean wait {mean_wait:.3f} s) nor CPU "
            f"({machine_busy:.0%} busy) was saturated; see the request counts"
        )
    out["reading"] = "; ".join(reasons)
    return out


# ---------------------------------------------------------------------------------------------
# the whole benchmark, in the namespace


def measure(workdir: Path, *, quick: bool, log: Log = _say) -> dict[str, Any]:
    """Every row, in a loopback-only namespace (raises ``NotIsolatedError`` outside one)."""
    from infra.controlplane.netns import require_loopback_only

    require_loopback_only()
    binaries = installed()
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "versions": {
            "kubernetes": KUBERNETES_VERSION,
            "etcd": ETCD_VERSION,
            "kwok": KWOK_VERSION,
        },
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    log(f"control plane starts ({STARTS}) ...")
    result["start"] = measure_starts(workdir, binaries, STARTS, log)
    log("example stacks ...")
    try:
        result["apply"] = measure_apply(workdir, binaries, log)
    except Exception as exc:  # one failed install must not lose the other rows
        result["apply"] = {"error": f"{type(exc).__name__}: {exc}"}
    if "not_available" in result["apply"]:
        log(f"  not available: {result['apply']['not_available']}")
    spec = QUICK_SCALE if quick else SCALE
    for key, qps, held in SCALE_ROWS:
        how = f"kube-scheduler --kube-api-qps={qps or 'default'}" + (
            ", held while the pods are created" if held else ""
        )
        log(f"scale ({key}): {spec.gpu_nodes} GPU nodes, {spec.pods} pods, {how} ...")
        result[key] = measure_scale(workdir, binaries, spec, log, scheduler_qps=qps, held=held)
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    return result


def run_cluster_benchmark(*, workdir: Path, quick: bool, on_line: Log = _say) -> dict[str, Any]:
    """Run the cluster benchmark in a fresh loopback-only network namespace (a child process
    ``unshare --net ... python -m benchmarks.cluster``), relaying its progress lines to
    ``on_line``; returns its results.

    Raises ``BenchmarkSkipped`` when the binaries are missing or ``unshare`` is unavailable,
    ``RuntimeError`` when the child fails.
    """
    return run_on_control_plane("benchmarks.cluster", workdir=workdir, quick=quick, on_line=on_line)


def run_on_control_plane(
    module: str, *, workdir: Path, quick: bool, on_line: Log = _say
) -> dict[str, Any]:
    """``python -m <module> --workdir <workdir> [--quick]`` in a fresh loopback-only network
    namespace (``run_in_namespace``), once the control plane binaries are known to be installed;
    returns the JSON it wrote to ``<workdir>/<last part of module>.json``.

    Raises ``BenchmarkSkipped`` when the binaries are missing or ``unshare`` is unavailable,
    ``RuntimeError`` when the child fails.
    """
    try:
        installed()
    except BuildError as exc:
        raise BenchmarkSkipped(str(exc)) from exc
    workdir.mkdir(parents=True, exist_ok=True)
    args = ["--workdir", str(workdir), *(["--quick"] if quick else [])]
    out = workdir / f"{module.rsplit('.', 1)[-1]}.json"
    return run_in_namespace(module, args, out, on_line)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.cluster [--quick] [--workdir DIR] [--out FILE]``: re-executes
    itself in a loopback-only namespace, or runs there (``--in-namespace``); refuses elsewhere."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 nodes, 1,000 pods")
    namespace_arguments(parser, "cluster")
    args = parser.parse_args(argv)
    return namespace_main(
        args,
        lambda: run_cluster_benchmark(workdir=args.workdir, quick=args.quick),
        lambda: measure(args.workdir, quick=args.quick),
    )


if __name__ == "__main__":
    sys.exit(main())
