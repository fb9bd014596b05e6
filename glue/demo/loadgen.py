"""A bounded load generator for Triton (KServe v2 HTTP) and the swap figures computed from it.

Every request is recorded as a ``Sample``: send time (``time.monotonic`` seconds), latency
(seconds), whether it failed, and the model version that answered (from the response's
``model_version``). Used by the demo and the hot-swap benchmark; it only targets the URL given
(loopback in tests and benchmarks), and stops after ``duration`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One request: ``sent`` (monotonic s), ``latency`` (s), ``ok``, ``version`` (None: failed)."""

    sent: float
    latency: float
    ok: bool
    version: int | None
    error: str | None = None


def infer_once(client: Any, model: str, batch: np.ndarray) -> tuple[np.ndarray, int]:
    """Send ``batch`` (float32 [n, 64]) to ``model``; returns (labels int64 [n], answering version).

    Raises ``tritonclient.utils.InferenceServerException`` when Triton refuses the request.
    """
    import tritonclient.http as httpclient

    tensor = httpclient.InferInput("IMAGE", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch.astype(np.float32))
    output = httpclient.InferRequestedOutput("LABEL")
    result = client.infer(model, [tensor], outputs=[output])
    labels = result.as_numpy("LABEL").reshape(-1)
    return labels, int(result.get_response()["model_version"])


def evaluate(
    url: str, model: str, x: np.ndarray, y: np.ndarray, *, batch: int = 64
) -> tuple[float, set[int]]:
    """Accuracy (0..1) of ``model`` at ``url`` on ``x``/``y``, and the versions that answered."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url.removeprefix("http://"), network_timeout=30.0)
    correct, versions = 0, set()
    try:
        for start in range(0, len(y), batch):
            labels, version = infer_once(client, model, x[start : start + batch])
            correct += int((labels == y[start : start + batch]).sum())
            versions.add(version)
    finally:
        client.close()
    return correct / len(y), versions


@dataclass
class LoadGenerator:
    """``clients`` threads sending random rows of ``x`` in batches of ``batch`` for ``duration`` s.

    ``on_tick`` (optional) is called from the main thread about every 0.1 s with the elapsed
    seconds, so a caller can act mid-run (move an alias, start a rollout).

    ``run`` never returns or raises with a client thread still running: when it is cut short
    (Ctrl-C, SIGTERM, an error in ``on_tick``) it tells the threads to stop and joins them
    (each finishes its request in flight, at most ``network_timeout`` s), so no tritonclient
    thread outlives it (one still running at interpreter exit crashes the process).
    """

    url: str
    model: str
    x: np.ndarray
    clients: int = 4
    duration: float = 20.0
    batch: int = 8
    network_timeout: float = 30.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def _worker(self, seed: int, deadline: float, out: list[Sample]) -> None:
        import tritonclient.http as httpclient

        rng = np.random.default_rng(seed)
        client = httpclient.InferenceServerClient(
            self.url.removeprefix("http://"), network_timeout=self.network_timeout
        )
        try:
            while (now := time.monotonic()) < deadline and not self._stop.is_set():
                rows = self.x[rng.integers(0, len(self.x), self.batch)]
                try:
                    _, version = infer_once(client, self.model, rows)
                    out.append(Sample(now, time.monotonic() - now, True, version))
                except Exception as exc:
                    out.append(Sample(now, time.monotonic() - now, False, None, str(exc)[:300]))
        finally:
            client.close()

    def run(self, on_tick: Callable[[float], None] | None = None) -> list[Sample]:
        """Run to completion; returns every sample (also kept in ``self.samples``).

        Whatever ends it early (``KeyboardInterrupt``, an exception from ``on_tick``) is raised
        again after every client thread has stopped (see ``stop``).
        """
        self._stop.clear()
        start = time.monotonic()
        deadline = start + self.duration
        buckets: list[list[Sample]] = [[] for _ in range(self.clients)]
        threads = [
            threading.Thread(target=self._worker, args=(i, deadline, buckets[i]), daemon=True)
            for i in range(self.clients)
        ]
        try:
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                if on_tick is not None:
                    on_tick(time.monotonic() - start)
                time.sleep(0.1)
        finally:
            self.stop(threads)
        self.samples = sorted((s for b in buckets for s in b), key=lambda s: s.sent)
        return self.samples

    def stop(self, threads: Sequence[threading.Thread]) -> None:
        """Tell the client threads to stop and join them (each within ``network_timeout`` + 5 s).

        A signal arriving meanwhile (a second Ctrl-C) does not cut the join short.
        """
        self._stop.set()
        deadline = time.monotonic() + self.network_timeout + 5
        for thread in threads:
            while thread.is_alive() and time.monotonic() < deadline:
                try:
                    thread.join(timeout=0.1)
                except KeyboardInterrupt:
                    continue


def percentiles_ms(latencies: Sequence[float]) -> dict[str, float | None]:
    """``{"p50": ms, "p99": ms, "count": n}`` of latencies given in seconds (None when empty)."""
    if not latencies:
        return {"p50": None, "p99": None, "count": 0}
    arr = np.asarray(latencies) * 1000.0
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "count": len(arr),
    }


def summarize_swap(
    samples: Sequence[Sample], *, moved_at: float, new_version: int
) -> dict[str, Any]:
    """Figures of a version switch that started at ``moved_at`` (monotonic s).

    ``all_new_after`` is the earliest time from which every request (by completion) was answered
    by ``new_version``; ``swap_duration_seconds`` = that minus ``moved_at``; latency percentiles
    are split into before / during / after. Raises ``ValueError`` if no request ever got the new
    version.
    """
    ordered = sorted(samples, key=lambda s: s.sent)
    last_other = max(
        (
            s.sent + s.latency
            for s in ordered
            if s.sent + s.latency >= moved_at and s.version != new_version
        ),
        default=moved_at,
    )
    first_new = next((s.sent + s.latency for s in ordered if s.version == new_version), None)
    if first_new is None:
        raise ValueError(f"no request was answered by version {new_version}")
    all_new_after = max(last_other, first_new)
    before = [s.latency for s in ordered if s.sent < moved_at and s.ok]
    during = [s.latency for s in ordered if moved_at <= s.sent < all_new_after and s.ok]
    after = [s.latency for s in ordered if s.sent >= all_new_after and s.ok]
    failed = [s for s in ordered if not s.ok]
    return {
        "requests_sent": len(ordered),
        "failed_requests": len(failed),
        "first_errors": sorted({s.error or "" for s in failed})[:3],
        "swap_duration_seconds": round(all_new_after - moved_at, 3),
        "first_new_version_after_seconds": round(first_new - moved_at, 3),
        "versions_answering": sorted({s.version for s in ordered if s.version is not None}),
        "latency_ms": {
            "before": percentiles_ms(before),
            "during": percentiles_ms(during),
            "after": percentiles_ms(after),
        },
    }
