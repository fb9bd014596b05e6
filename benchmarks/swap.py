"""Hot swap under load vs. a restart rollout done right, same model versions, one run.

Two rows, each with both scenarios run under the same closed-loop load (``clients`` threads,
batches of ``batch`` rows) during the rollout:

- **stall row** (at 4 and at 16 clients): the digits classifier trained twice here (v1: logistic
  regression, v2: SVC, the demo's hyperparameters). Each scenario sends ``requests`` requests
  (100,000 by default): half before the rollout (the steady state), the rest during and after
  it. Target: the largest latency of a request in flight during the rollout <= 2 x the
  steady-state p99 + 10 ms, with 0 failed requests.
- **large-model row**: a python-backend model whose weights are a float32 array of
  ``large_bytes`` (1 GiB by default) generated into the work directory (v1 and v2 from two
  seeds) and read whole into the model's memory at load. Figures: failed requests, time to
  all-v2, extra peak memory. The files are removed afterwards.

Scenarios:

- **hot swap**: one tritonserver + serving agent + registry (SQLite). ``production`` moves
  v1 -> v2 in the registry; the agent (poll interval ``AGENT_POLL`` s) downloads v2, loads it
  beside v1 over Triton's gRPC endpoint, confirms READY and v1 is unloaded. Rollout start = the
  alias move; rollout end = v1 unloaded and the agent reported v2.
- **restart rollout done right**: tritonserver A serves v1. Rollout start = launching
  tritonserver B with v2; once B reports v2 READY the load's target is switched to B (workers
  read it before every request and close their connection to A), requests in flight to A are
  drained, then A is stopped (rollout end).

The load runs in a process of its own (``LoadProcess``), so nothing the benchmark does meanwhile
(registry calls, index polls, memory sampling) holds the load threads' interpreter lock. The
load generator itself adds no collector pauses (samples in numpy arrays, startup objects frozen
out of the collector: see ``_load_main``) and reports its own pauses (``load_process``).

Figures per scenario: requests sent, failed requests, time from the rollout start until every
request gets v2 (``summarize_swap``), steady-state p50/p99, the largest latency of a request in
flight during the rollout, and extra peak memory: the RSS of every tritonserver process tree
(server + python backend stubs) sampled every ~50 ms, peak during the rollout minus the mean of
the second before it.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import multiprocessing.sharedctypes
import os
import resource
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.support import BenchmarkSkipped, RssSampler, mib
from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.demo.loadgen import Sample, evaluate, infer_once, percentiles_ms
from glue.demo.loadgen import summarize_swap as _summarize_swap
from glue.demo.processes import ChildProcesses, start_registry, start_serving
from glue.demo.runner import V1, V2
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import publish_model
from glue.training.datasets import DigitsSplit, make_digits_split
from glue.training.digits import CONFIG_TEMPLATE, parse_params, train_and_evaluate
from glue.training.digits import write_model_directory as write_digits_directory
from glue.triton.repository import TritonRepository
from glue.triton.server import (
    TritonServerError,
    TritonServerProcess,
    UnsupportedPlatform,
    find_pytriton_install,
    free_ports,
)

MODEL = "digits"
SERVICE = "digits"
TEAM = "bench"
POD = "digits-bench-0"
AGENT_POLL = 0.5
ROLLOUT_TIMEOUT = 300.0
#: Seconds at the start of the load left out of the steady state (connections, first requests).
SETTLE_SECONDS = 1.0
#: The stall target: max latency during the rollout <= BOUND_FACTOR x steady p99 + BOUND_MS.
BOUND_FACTOR = 2.0
BOUND_MS = 10.0
GIB = 1 << 30


# ---------------------------------------------------------------------------------------------
# the load, in a process of its own; its target can be switched mid-run


class _Recorder:
    """One client thread's samples in preallocated numpy arrays (grown by chunks).

    A list of per-request tuples would give the collector 100k+ tracked objects to walk in
    every full pass, pausing every client thread; numpy arrays hold no Python objects.
    """

    CHUNK = 1 << 16

    def __init__(self) -> None:
        self.count = 0
        self.sent = np.empty(self.CHUNK, dtype=np.float64)
        self.latency = np.empty(self.CHUNK, dtype=np.float64)
        self.version = np.empty(self.CHUNK, dtype=np.int64)
        self.errors: dict[int, str] = {}

    def add(self, sent: float, latency: float, version: int, error: str = "") -> None:
        """Record one request (``version`` -1 and ``error`` for a failed one)."""
        i = self.count
        if i == len(self.sent):
            self.sent = np.concatenate([self.sent, np.empty(self.CHUNK)])
            self.latency = np.concatenate([self.latency, np.empty(self.CHUNK)])
            self.version = np.concatenate([self.version, np.empty(self.CHUNK, dtype=np.int64)])
        self.sent[i], self.latency[i], self.version[i] = sent, latency, version
        if error:
            self.errors[i] = error
        self.count = i + 1


def _load_worker(
    urls: list[str],
    model: str,
    x: np.ndarray,
    batch: int,
    seed: int,
    state: dict[str, Any],
    out: _Recorder,
) -> None:
    """One client thread: send until ``stop``; follow ``target`` (an index into ``urls``)."""
    import tritonclient.http as httpclient

    rng = np.random.default_rng(seed)
    client: Any = None
    current = -1
    try:
        while not state["stop"].is_set():
            rows = x[rng.integers(0, len(x), batch)]
            with state["lock"]:
                index = state["target"].value
                state["inflight"][index] += 1
            sent = time.monotonic()
            try:
                if index != current:
                    if client is not None:
                        client.close()  # a keep-alive connection would hold a stopping server
                    client = httpclient.InferenceServerClient(
                        urls[index].removeprefix("http://"), network_timeout=60.0
                    )
                    current = index
                _, version = infer_once(client, model, rows)
                out.add(sent, time.monotonic() - sent, version)
            except Exception as exc:
                out.add(sent, time.monotonic() - sent, -1, str(exc)[:300] or repr(exc))
            finally:
                with state["lock"]:
                    state["inflight"][index] -= 1
                    state["done"].value += 1
    finally:
        if client is not None:
            client.close()


def _load_main(
    urls: list[str],
    model: str,
    x: np.ndarray,
    clients: int,
    batch: int,
    state: dict[str, Any],
    result: Path,
) -> None:
    """The load process: ``clients`` threads until ``stop``; samples to ``result`` (.npz).

    A collection stops every client thread at once: a pause of the load generator, not of the
    server. So the samples go to numpy arrays (no tracked objects) and the objects alive at the
    start (imported modules, tritonclient) are frozen out of the collector's passes: what is
    left to walk is the per-request garbage (tritonclient leaves reference cycles, ~4 objects
    a request), which the young generations free in passes of well under a millisecond. The
    passes are timed (``gc_pause_ms``) next to how late the main thread wakes from a 5 ms
    sleep (``wakeup_late_ms``: the interpreter lock and the machine's scheduling).
    """
    recorders = [_Recorder() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_load_worker, args=(urls, model, x, batch, i, state, recorders[i]), daemon=True
        )
        for i in range(clients)
    ]
    pauses: list[float] = []
    began = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - began[0])

    gc.collect()
    gc.freeze()
    gc.callbacks.append(timed)
    stalls = []
    try:
        for thread in threads:
            thread.start()
        # Meanwhile: how late a 5 ms sleep of this process wakes up (the GIL, the machine).
        while any(thread.is_alive() for thread in threads):
            before = time.perf_counter()
            time.sleep(0.005)
            stalls.append(time.perf_counter() - before - 0.005)
    finally:
        gc.callbacks.remove(timed)
    sent = np.concatenate([r.sent[: r.count] for r in recorders])
    order = np.argsort(sent, kind="stable")
    errors = np.array(
        [r.errors.get(i, "") for r in recorders for i in range(r.count)], dtype=object
    )
    np.savez(
        result,
        sent=sent[order],
        latency=np.concatenate([r.latency[: r.count] for r in recorders])[order],
        version=np.concatenate([r.version[: r.count] for r in recorders])[order],
        error=errors[order],
        wakeup_late_ms=np.round(np.percentile(stalls, [50, 99, 100]) * 1000, 2),
        gc_pause_ms=np.round(np.array([len(pauses), max(pauses, default=0.0) * 1000]), 2),
        max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    )


class LoadProcess:
    """Closed-loop load (``clients`` threads, batches of ``batch`` rows of ``x``) in a process.

    ``urls`` are the servers it may target (``switch`` picks one; the first at start); the
    process counts finished requests (``done``) and requests in flight per URL. ``finish``
    stops it and returns every sample, sorted by send time (``time.monotonic`` is the same
    clock in both processes).

    The process is started with ``spawn``: it imports the caller's main module again, which must
    therefore do nothing at import (``if __name__ == "__main__":``, as ``benchmarks.run`` does).
    """

    def __init__(
        self,
        urls: list[str],
        x: np.ndarray,
        *,
        clients: int,
        batch: int,
        workdir: Path,
        model: str = MODEL,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.urls = urls
        self._result = workdir / f"load-{uuid.uuid4().hex[:8]}.npz"
        self._samples: list[Sample] | None = None
        #: The load process's own figures, set by ``finish``: how late a 5 ms sleep of its
        #: main thread woke up (p50/p99/max ms: pauses of the load generator itself), its
        #: garbage collector's passes (count, longest in ms), its peak RSS.
        self.diagnostics: dict[str, Any] = {}
        self._state: dict[str, Any] = {
            "stop": context.Event(),
            "lock": context.Lock(),
            "target": context.RawValue(ctypes.c_int, 0),
            "done": context.RawValue(ctypes.c_long, 0),
            "inflight": context.RawArray(ctypes.c_int, len(urls)),
        }
        self._process = context.Process(
            target=_load_main,
            args=(urls, model, x, clients, batch, self._state, self._result),
            name="swap-load",
            daemon=True,
        )

    def start(self) -> LoadProcess:
        """Start the load process."""
        self._process.start()
        return self

    @property
    def done(self) -> int:
        """Requests finished so far (answered or failed)."""
        return int(self._state["done"].value)

    def wait_done(self, count: int, *, timeout: float) -> None:
        """Wait until ``count`` requests finished; ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self.done < count:
            if not self._process.is_alive():
                raise RuntimeError(f"the load process exited (code {self._process.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.done} of {count} requests after {timeout:.0f}s")
            time.sleep(0.05)

    def switch(self, url: str) -> None:
        """Send every request from now on to ``url`` (one of ``urls``)."""
        with self._state["lock"]:
            self._state["target"].value = self.urls.index(url)

    def wait_drained(self, url: str, *, timeout: float) -> bool:
        """Wait until no request to ``url`` is in flight; False after ``timeout`` s."""
        index = self.urls.index(url)
        deadline = time.monotonic() + timeout
        while True:
            with self._state["lock"]:
                if not self._state["inflight"][index]:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)

    def finish(self) -> list[Sample]:
        """Stop the load; returns every sample sorted by send time ([] if it never ran).

        Idempotent: later calls return the same samples.
        """
        self._state["stop"].set()
        if self._samples is not None:
            return self._samples
        if self._process.pid is None:
            return []
        self._process.join(timeout=120)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        if not self._result.exists():
            raise RuntimeError(f"the load process left no samples (code {self._process.exitcode})")
        with np.load(self._result, allow_pickle=True) as data:
            samples = [
                Sample(float(s), float(lat), v >= 0, int(v) if v >= 0 else None, e or None)
                for s, lat, v, e in zip(
                    data["sent"], data["latency"], data["version"], data["error"], strict=True
                )
            ]
            late = [float(v) for v in data["wakeup_late_ms"]]
            self.diagnostics = {
                "wakeup_late_ms": dict(zip(("p50", "p99", "max"), late, strict=True)),
                "gc_pause_ms": {
                    "passes": int(data["gc_pause_ms"][0]),
                    "max": float(data["gc_pause_ms"][1]),
                },
                "max_rss_mib": int(data["max_rss_mib"]),
            }
        self._result.unlink()
        self._samples = samples
        return samples


# ---------------------------------------------------------------------------------------------
# model versions


@dataclass(frozen=True)
class Versions:
    """v1 and v2 model directories (Triton layout, version dir ``1``), inputs, their accuracy.

    ``y`` is None for a model without labels (the large model): then accuracy is not measured.
    """

    v1: Path
    v2: Path
    x: np.ndarray
    y: np.ndarray | None
    accuracy: dict[str, float]


@dataclass(frozen=True)
class TrainedVersions:
    """v1 and v2 of the digits model (Triton layout, version dir ``1``) and their test accuracy."""

    split: DigitsSplit
    v1: Path
    v2: Path
    accuracy: dict[str, float]

    def versions(self) -> Versions:
        """The two versions with the test split as the load's inputs."""
        return Versions(self.v1, self.v2, self.split.x_test, self.split.y_test, self.accuracy)


def train_versions(workdir: Path) -> TrainedVersions:
    """Train v1 and v2 once (the demo's algorithms and parameters) and write both directories."""
    split = make_digits_split()
    dirs, accuracy = {}, {}
    for tag, (algorithm, params) in (("v1", V1), ("v2", V2)):
        estimator, metrics = train_and_evaluate(split, algorithm, parse_params(params))
        out = workdir / "models" / tag / MODEL
        shutil.rmtree(out.parent, ignore_errors=True)
        dirs[tag] = write_digits_directory(out, model=MODEL, estimator=estimator)
        accuracy[tag] = round(metrics["accuracy"], 4)
    return TrainedVersions(split, dirs["v1"], dirs["v2"], accuracy)


#: The large model: the digits signature (IMAGE FP32 [64] -> LABEL, PROBABILITIES), answered
#: from the first 10 rows of a weight matrix loaded whole from ``weights.npy`` (the rest stands
#: for the bulk of a real model's parameters).
LARGE_MODEL_PY = '''"""Benchmark model: float32 weights [rows, 64] read whole at load."""

import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(args["model_repository"], args["model_version"], "weights.npy")
        self.weights = np.load(path)
        self.head = np.ascontiguousarray(self.weights[:10])

    def execute(self, requests):
        responses = []
        for request in requests:
            image = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
            logits = image @ self.head.T
            exp = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
            labels = probabilities.argmax(axis=1).astype(np.int64).reshape(-1, 1)
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("LABEL", labels),
                        pb_utils.Tensor("PROBABILITIES", probabilities),
                    ]
                )
            )
        return responses
'''


def write_large_versions(workdir: Path, size_bytes: int, x: np.ndarray) -> Versions:
    """Write v1 and v2 of the large model: ``weights.npy`` of ``size_bytes`` each (two seeds).

    The array is written in chunks of 64 MiB, so generating it never holds it in memory.
    """
    rows = max(10, size_bytes // (64 * 4))
    dirs = {}
    for seed, tag in enumerate(("v1", "v2")):
        out = workdir / "models-large" / tag / MODEL
        shutil.rmtree(out.parent, ignore_errors=True)
        (out / "1").mkdir(parents=True)
        (out / "config.pbtxt").write_text(CONFIG_TEMPLATE.format(name=MODEL))
        (out / "1" / "model.py").write_text(LARGE_MODEL_PY)
        weights = np.lib.format.open_memmap(
            out / "1" / "weights.npy", mode="w+", dtype=np.float32, shape=(rows, 64)
        )
        rng = np.random.default_rng(seed)
        step = (64 << 20) // (64 * 4)
        for first in range(0, rows, step):
            last = min(rows, first + step)
            weights[first:last] = rng.standard_normal((last - first, 64), dtype=np.float32)
        weights.flush()
        del weights
        dirs[tag] = out
    return Versions(dirs["v1"], dirs["v2"], x, None, {})


def install_version(model_dir: Path, repository: Path, number: int) -> None:
    """Hard-link a model directory into ``repository/<model>/`` with version dir ``number``."""
    target = repository / MODEL
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model_dir / "config.pbtxt", target / "config.pbtxt")
    shutil.copytree(model_dir / "1", target / str(number), copy_function=_link_or_copy)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def publish_version(store: ArtifactStore, client: RegistryClient, model_dir: Path, tag: str) -> int:
    """Upload ``model_dir`` as ``models/<MODEL>/<tag>`` and register it as a version of
    ``MODEL`` in ``TEAM`` (source: a ``LocalRun`` named ``train-<tag>``); returns its number."""
    published = publish_model(
        store=store,
        registry=client,
        model=schemas.ModelCreate(name=MODEL, team=TEAM),
        model_dir=model_dir,
        uri=store.local_uri("models", MODEL, tag),
        source=schemas.SourceRef(
            kind="LocalRun", namespace=TEAM, name=f"train-{tag}", uid=str(uuid.uuid4())
        ),
    )
    return published.record.version


# ---------------------------------------------------------------------------------------------
# figures


@dataclass(frozen=True)
class LoadPlan:
    """How much load a scenario gets.

    Attributes:
        clients: concurrent client threads.
        batch: rows per request.
        requests: requests in all; ``steady_share`` of them before the rollout starts.
        tail: seconds of load at least after the rollout ended.
    """

    clients: int
    batch: int
    requests: int
    tail: float
    steady_share: float = 0.5

    #: Seconds of steady load at least (after ``SETTLE_SECONDS``) before the rollout starts.
    steady_seconds: float = 3.0

    def wait_steady(self, load: LoadProcess, load_started: float) -> None:
        """Wait until the steady share of the requests is in and ``steady_seconds`` passed."""
        load.wait_done(self.steady_requests, timeout=ROLLOUT_TIMEOUT * 4)
        time.sleep(max(0.0, load_started + SETTLE_SECONDS + self.steady_seconds - time.monotonic()))

    @property
    def steady_requests(self) -> int:
        """Requests finished before the rollout starts."""
        return int(self.requests * self.steady_share)


def triton_version(url: str) -> str | None:
    """The server's version from ``GET /v2`` (None if it cannot be read)."""
    try:
        return str(httpx.get(f"{url}/v2", timeout=5).json().get("version"))
    except (httpx.HTTPError, ValueError):
        return None


def stall_figures(
    samples: list[Sample], *, load_started: float, started: float, finished: float
) -> dict[str, Any]:
    """Steady-state p99, the largest latency in flight during the rollout, and the bound.

    Steady state: requests sent from ``SETTLE_SECONDS`` after the load started until the rollout
    start. In flight during the rollout: sent before ``finished`` and answered after ``started``.
    ``steady_same_length_max_latency_ms``: the largest latency in a window as long as the rollout
    just before it (what the machine's noise alone gives in that much time);
    ``after_same_length_max_latency_ms`` and ``after_latency_ms``: the same for the window after
    the rollout (the new version alone; the load's tail may be shorter than the rollout).
    """
    steady = [
        s.latency for s in samples if s.ok and load_started + SETTLE_SECONDS <= s.sent < started
    ]
    # The same length of time as the rollout, right before it: the machine's noise floor.
    before = started - (finished - started)
    same_length = [
        s.latency for s in samples if s.ok and before <= s.sent and s.sent + s.latency < started
    ]
    # The same length again right after it, or what the load's tail gives: the new version's
    # own noise floor (it may be a slower model than the old one the steady state measured).
    after = [
        s.latency
        for s in samples
        if s.ok and finished < s.sent and s.sent + s.latency <= finished + (finished - started)
    ]
    during = [s.latency for s in samples if s.sent <= finished and s.sent + s.latency >= started]
    p99 = percentiles_ms(steady)["p99"]
    worst = round(max(during) * 1000, 1) if during else None
    bound = round(BOUND_FACTOR * p99 + BOUND_MS, 1) if p99 is not None else None
    return {
        "steady_latency_ms": percentiles_ms(steady),
        "steady_max_latency_ms": round(max(steady) * 1000, 1) if steady else None,
        "steady_same_length_max_latency_ms": (
            round(max(same_length) * 1000, 1) if same_length else None
        ),
        "after_same_length_max_latency_ms": round(max(after) * 1000, 1) if after else None,
        "after_latency_ms": percentiles_ms(after),
        "rollout_max_latency_ms": worst,
        "rollout_requests_in_flight": len(during),
        "bound_ms": bound,
        "bound_met": worst is not None and bound is not None and worst <= bound,
        "slowest_during_rollout": [
            {
                "sent_after_start_s": round(s.sent - started, 3),
                "latency_ms": round(s.latency * 1000, 1),
                "version": s.version,
            }
            for s in sorted(
                (s for s in samples if s.sent <= finished and s.sent + s.latency >= started),
                key=lambda s: -s.latency,
            )[:5]
        ],
    }


def summarize(
    samples: list[Sample],
    *,
    started: float,
    finished: float,
    sampler: RssSampler,
    load_started: float,
) -> dict[str, Any]:
    """Request, latency and memory figures of one scenario (rollout ``started``..``finished``)."""
    swap = _summarize_swap(samples, moved_at=started, new_version=2)
    ok = [s.latency for s in samples if s.ok]
    rollout = [s.latency for s in samples if s.ok and started <= s.sent <= finished]
    baseline = sampler.mean(started - 1.0, started)
    peak = sampler.peak(started, finished + 0.5)
    span = samples[-1].sent - samples[0].sent if samples else 0.0
    return {
        "load_average_1m": round(os.getloadavg()[0], 2),
        "requests_sent": swap["requests_sent"],
        "failed_requests": swap["failed_requests"],
        "first_errors": swap["first_errors"],
        "all_v2_after_seconds": swap["swap_duration_seconds"],
        "first_v2_after_seconds": swap["first_new_version_after_seconds"],
        "versions_answering": swap["versions_answering"],
        "requests_per_second": round(len(samples) / span, 1) if span > 0 else None,
        **stall_figures(samples, load_started=load_started, started=started, finished=finished),
        "rollout_requests_over_100ms": sum(1 for v in rollout if v > 0.1),
        "latency_ms": {
            "all": percentiles_ms(ok),
            "rollout": percentiles_ms(rollout),
            **swap["latency_ms"],
        },
        "memory_mib": {
            "baseline": mib(baseline),
            "peak": mib(peak),
            "extra_peak": mib(peak - baseline),
            "after": mib(sampler.mean(finished + 0.5, time.monotonic())),
            "samples_during_rollout": len(sampler.window(started, finished + 0.5)),
            "sample_interval_ms": int(sampler.interval * 1000),
        },
        "rollout_seconds": round(finished - started, 3),
        "rollout_started_unix": round(time.time() - (time.monotonic() - started), 3),
        "load_seconds": round(time.monotonic() - load_started, 1),
    }


def _after_rollout(load: LoadProcess, plan: LoadPlan, finished: float) -> None:
    """Keep the load running ``plan.tail`` s after ``finished`` and until all requests are in."""
    time.sleep(max(0.0, finished + plan.tail - time.monotonic()))
    load.wait_done(plan.requests, timeout=ROLLOUT_TIMEOUT * 4)


def _steady_load(
    stack: ExitStack,
    plan: LoadPlan,
    urls: list[str],
    x: np.ndarray,
    workdir: Path,
    rss: Callable[[], int],
) -> tuple[LoadProcess, RssSampler, float]:
    """Start sampling ``rss`` and the load (both stopped by ``stack``), wait for its steady
    share; returns the load, the sampler and when the load started."""
    sampler = RssSampler(rss).start()
    stack.callback(sampler.stop)
    load = LoadProcess(urls, x, clients=plan.clients, batch=plan.batch, workdir=workdir)
    load_started = time.monotonic()
    load.start()
    stack.callback(load.finish)
    plan.wait_steady(load, load_started)
    return load, sampler, load_started


def _end_scenario(
    load: LoadProcess,
    plan: LoadPlan,
    sampler: RssSampler,
    versions: Versions,
    url: str,
    times: tuple[float, float, float],
) -> dict[str, Any]:
    """Let the load finish, then the scenario's figures, accuracy of v2 at ``url`` and Triton's
    version. ``times``: when the load started, the rollout started and the rollout finished."""
    load_started, started, finished = times
    _after_rollout(load, plan, finished)
    samples = load.finish()
    sampler.stop()
    diagnostics = load.diagnostics
    accuracy: float | None = None
    answered: set[int] = set()
    if versions.y is not None:
        accuracy, answered = evaluate(url, MODEL, versions.x, versions.y)
    return {
        "tritonserver_version": triton_version(url),
        "accuracy_after": round(accuracy, 4) if accuracy is not None else None,
        "versions_after": sorted(answered),
        "load_process": diagnostics,
        **summarize(
            samples, started=started, finished=finished, sampler=sampler, load_started=load_started
        ),
    }


# ---------------------------------------------------------------------------------------------
# scenario 1: hot swap through the registry and the serving agent


def _keep_logs(state: Path, workdir: Path, versions: Versions, plan: LoadPlan) -> None:
    """Copy every ``*.log`` below a scenario's ``state`` directory (Triton, agent, registry) to
    ``workdir/logs/<scenario>-<models>-<clients>/`` before the state is removed, so a slow
    request can be laid beside the events (``rollout_started_unix`` aligns the clocks)."""
    target = workdir / "logs" / f"{state.name}-{versions.v1.parents[1].name}-{plan.clients}"
    for log in state.rglob("*.log"):
        copy = target / log.relative_to(state)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log, copy)


def _wait_until(check: Callable[[], bool], *, timeout: float, poll: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic()
        time.sleep(poll)
    raise TimeoutError(f"{what} not reached within {timeout:.0f}s")


def run_hot_swap(versions: Versions, workdir: Path, plan: LoadPlan) -> dict[str, Any]:
    """Scenario 1 (see the module docstring); returns its figures."""
    state = workdir / "hot-swap"
    shutil.rmtree(state, ignore_errors=True)
    artifacts = state / "artifacts"
    repository = state / "model-repository"
    artifacts.mkdir(parents=True)
    repository.mkdir()
    (registry_port,) = free_ports(1)
    store = ArtifactStore(ArtifactSettings(local_root=artifacts))
    try:
        with ExitStack() as stack:
            children = stack.enter_context(ChildProcesses(str(state)))
            registry_url = start_registry(
                children,
                port=registry_port,
                state=state,
                log_path=state / "logs" / "registry.log",
                env={},
            )
            client = stack.enter_context(RegistryClient(registry_url, team=TEAM, timeout=60))
            numbers = {
                tag: publish_version(store, client, path, tag)
                for tag, path in (("v1", versions.v1), ("v2", versions.v2))
            }
            if numbers != {"v1": 1, "v2": 2}:
                raise RuntimeError(f"expected versions 1 and 2 in a fresh registry, got {numbers}")

            serving = start_serving(
                children,
                client,
                registry_url=registry_url,
                service=SERVICE,
                team=TEAM,
                model=MODEL,
                alias="production",
                pod=POD,
                model_repository=repository,
                artifacts_root=artifacts,
                logs=state / "logs",
                env={},
                poll_interval=AGENT_POLL,
            )
            triton = serving.triton
            # The benchmark watches over gRPC too: no HTTP request of ours reaches Triton.
            index = TritonRepository(triton.http_url, grpc_url=triton.grpc_url)

            def reported(version: int) -> bool:
                observed = client.get_service(SERVICE).observed
                return {o.version for o in observed if o.state == "READY"} == {version}

            client.set_alias(MODEL, "production", 1, reason="baseline")
            _wait_until(lambda: reported(1), timeout=ROLLOUT_TIMEOUT, poll=0.1, what="v1 served")

            load, sampler, load_started = _steady_load(
                stack, plan, [triton.http_url], versions.x, state, triton.rss_bytes
            )

            started = time.monotonic()
            client.set_alias(MODEL, "production", 2, reason="benchmark")
            only_v2 = _wait_until(
                lambda: index.ready_versions(MODEL) == {2},
                timeout=ROLLOUT_TIMEOUT,
                poll=0.05,
                what="Triton serving only v2",
            )
            agent_reported = _wait_until(
                lambda: reported(2), timeout=ROLLOUT_TIMEOUT, poll=0.1, what="agent reporting v2"
            )

            def v1_gone() -> bool:
                row = index.versions(MODEL).get(1)
                return row is None or row.state not in ("READY", "UNLOADING")

            unloaded = _wait_until(
                v1_gone, timeout=ROLLOUT_TIMEOUT, poll=0.05, what="v1 unloaded (its stub exited)"
            )
            finished = max(unloaded, agent_reported)
            figures = _end_scenario(
                load, plan, sampler, versions, triton.http_url, (load_started, started, finished)
            )
    finally:
        _keep_logs(state, workdir, versions, plan)
        shutil.rmtree(state, ignore_errors=True)
    return {
        "scenario": "hot swap (one tritonserver, serving agent, registry alias move)",
        "agent_poll_interval_seconds": AGENT_POLL,
        "steps_seconds": {
            "triton_only_v2": round(only_v2 - started, 3),
            "agent_reported_v2": round(agent_reported - started, 3),
            "v1_unloaded": round(unloaded - started, 3),
        },
        **figures,
    }


# ---------------------------------------------------------------------------------------------
# scenario 2: restart rollout done right (second server, switch, stop the old one)


def _start_server(repository: Path, workdir: Path, version: int) -> TritonServerProcess:
    server = TritonServerProcess(repository, workdir)
    server.start()
    server.wait_live(timeout=60)
    repo = TritonRepository(server.http_url, grpc_url=server.grpc_url)
    repo.load(MODEL)
    repo.wait_ready(MODEL, [version], timeout=ROLLOUT_TIMEOUT, poll=0.02)
    return server


def run_restart_rollout(versions: Versions, workdir: Path, plan: LoadPlan) -> dict[str, Any]:
    """Scenario 2 (see the module docstring); returns its figures."""
    state = workdir / "restart-rollout"
    shutil.rmtree(state, ignore_errors=True)
    repo_a, repo_b = state / "repository-a", state / "repository-b"
    install_version(versions.v1, repo_a, 1)
    install_version(versions.v2, repo_b, 2)
    servers: dict[str, TritonServerProcess | None] = {"a": None, "b": None}

    def rss() -> int:
        return sum(s.rss_bytes() for s in list(servers.values()) if s is not None)

    try:
        with ExitStack() as stack:
            server_a = _start_server(repo_a, state / "triton-a", 1)
            servers["a"] = server_a
            stack.callback(server_a.stop)
            # B's ports are picked now, so the load process knows both URLs from the start.
            server_b = TritonServerProcess(repo_b, state / "triton-b")
            http_b, grpc_b, metrics_b = free_ports(3)
            urls = [server_a.http_url, f"http://127.0.0.1:{http_b}"]
            load, sampler, load_started = _steady_load(stack, plan, urls, versions.x, state, rss)

            started = time.monotonic()
            servers["b"] = server_b
            stack.callback(server_b.stop)
            server_b.start(ports=(http_b, grpc_b, metrics_b))
            server_b.wait_live(timeout=60)
            live = time.monotonic()
            repo = TritonRepository(server_b.http_url, grpc_url=server_b.grpc_url)
            repo.load(MODEL)
            repo.wait_ready(MODEL, [2], timeout=ROLLOUT_TIMEOUT, poll=0.02)
            ready = time.monotonic()
            load.switch(server_b.http_url)
            switched = time.monotonic()
            drained_ok = load.wait_drained(server_a.http_url, timeout=30)
            drained = time.monotonic()
            server_a.stop()
            stopped = time.monotonic()
            figures = _end_scenario(
                load, plan, sampler, versions, server_b.http_url, (load_started, started, stopped)
            )
    finally:
        _keep_logs(state, workdir, versions, plan)
        shutil.rmtree(state, ignore_errors=True)
    return {
        "scenario": "restart rollout done right (second tritonserver, switch traffic, stop old)",
        "steps_seconds": {
            "b_live": round(live - started, 3),
            "b_v2_ready": round(ready - started, 3),
            "traffic_switched": round(switched - started, 3),
            "a_drained": round(drained - started, 3),
            "a_stopped": round(stopped - started, 3),
            "a_stop_took": round(stopped - drained, 3),
        },
        "a_drained_in_time": drained_ok,
        **figures,
    }


def _pair(versions: Versions, workdir: Path, plan: LoadPlan) -> dict[str, Any]:
    return {
        "load": {
            "clients": plan.clients,
            "batch": plan.batch,
            "requests": plan.requests,
            "steady_requests": plan.steady_requests,
            "tail_seconds": plan.tail,
            "closed_loop": True,
        },
        "hot_swap": run_hot_swap(versions, workdir, plan),
        "restart_rollout": run_restart_rollout(versions, workdir, plan),
    }


def run_swap_benchmark(
    *,
    workdir: Path,
    clients: tuple[int, ...] = (4, 16),
    requests: int = 100_000,
    batch: int = 8,
    tail: float = 3.0,
    large_bytes: int = GIB,
    large_requests: int = 4_000,
) -> dict[str, Any]:
    """Train v1/v2 once; per client count run both scenarios with the same load; then both
    scenarios with the large model (``large_bytes`` of weights per version, 0: skip the row).

    Returns their figures. Raises ``BenchmarkSkipped`` when this machine cannot run the wheel's
    tritonserver.
    """
    try:
        find_pytriton_install()
    except (UnsupportedPlatform, TritonServerError) as exc:
        raise BenchmarkSkipped(str(exc)) from exc
    workdir = workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    versions = train_versions(workdir).versions()
    rows = [
        _pair(versions, workdir, LoadPlan(clients=n, batch=batch, requests=requests, tail=tail))
        for n in clients
    ]
    large: dict[str, Any] | None = None
    if large_bytes:
        try:
            big = write_large_versions(workdir, large_bytes, versions.x)
            weights = (big.v1 / "1" / "weights.npy").stat().st_size
            plan = LoadPlan(clients=4, batch=batch, requests=large_requests, tail=tail)
            large = {"weights_bytes_per_version": weights, **_pair(big, workdir, plan)}
        finally:
            shutil.rmtree(workdir / "models-large", ignore_errors=True)
    return {
        "model": MODEL,
        "v1": {"algorithm": V1[0], "params": V1[1], "accuracy": versions.accuracy["v1"]},
        "v2": {"algorithm": V2[0], "params": V2[1], "accuracy": versions.accuracy["v2"]},
        "target": f"max latency during the rollout <= {BOUND_FACTOR:g} x steady p99 + "
        f"{BOUND_MS:g} ms, 0 failed requests, >= 100,000 requests per scenario",
        "requests_per_scenario": requests,
        "runs": rows,
        "large_model": large,
        "notes": [
            "Rollout start: the alias move (hot swap) / launching the second tritonserver "
            "(restart rollout).",
            "all_v2_after_seconds: from the rollout start until every later request (by "
            "completion) was answered by v2.",
            "rollout_seconds: from the rollout start until the old version is gone: v1 unloaded "
            "in Triton and v2 reported by the agent (hot swap) / tritonserver A stopped "
            "(restart rollout).",
            "steady p99: requests sent from 1 s after the load started until the rollout start; "
            "max during the rollout: every request in flight at any time of the rollout.",
            "Hot swap includes the agent's poll delay (poll interval "
            f"{AGENT_POLL} s) between the alias move and the start of the load.",
            "The load runs in its own process (one interpreter, `clients` threads).",
            "memory_mib: RSS of all tritonserver process trees (server + python backend stubs), "
            "sampled every 50 ms; extra_peak = peak during the rollout - mean of the second "
            "before it.",
        ],
    }
