"""Swap figures computed from load-generator samples (pure functions)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from glue.demo.loadgen import LoadGenerator, Sample, percentiles_ms, summarize_swap
from glue.triton.server import free_ports


def _samples() -> list[Sample]:
    out = []
    for i in range(100):  # one request every 0.1 s, 10 ms each; v2 answers from t=6.0 on
        t = i * 0.1
        out.append(Sample(t, 0.01, True, 1 if t < 6.0 else 2))
    return out


def test_summarize_swap_phases_and_duration() -> None:
    samples = _samples()
    samples[55] = Sample(5.5, 0.01, True, 1)
    samples[58] = Sample(5.8, 0.01, True, 2)  # an early v2 answer, then v1 again at 5.9
    summary = summarize_swap(samples, moved_at=5.0, new_version=2)
    assert summary["requests_sent"] == 100 and summary["failed_requests"] == 0
    assert summary["first_new_version_after_seconds"] == pytest.approx(0.81, abs=1e-6)
    assert summary["swap_duration_seconds"] == pytest.approx(0.91, abs=1e-6)  # last v1 ends 5.91
    lat = summary["latency_ms"]
    assert lat["before"]["count"] == 50
    assert lat["during"]["count"] == 10
    assert lat["after"]["count"] == 40
    assert lat["after"]["p50"] == pytest.approx(10.0)


def test_failures_are_counted_and_no_new_version_is_an_error() -> None:
    samples = _samples()
    samples[70] = Sample(7.0, 0.5, False, None, "connection refused")
    summary = summarize_swap(samples, moved_at=5.0, new_version=2)
    assert summary["failed_requests"] == 1 and summary["first_errors"] == ["connection refused"]
    with pytest.raises(ValueError, match="version 3"):
        summarize_swap(samples, moved_at=5.0, new_version=3)


def test_percentiles() -> None:
    assert percentiles_ms([]) == {"p50": None, "p99": None, "count": 0}
    p = percentiles_ms([i / 1000 for i in range(1, 101)])
    assert (
        p["count"] == 100 and p["p50"] == pytest.approx(50.5) and p["p99"] == pytest.approx(99.01)
    )


def test_an_interrupted_run_stops_and_joins_every_client_thread() -> None:
    """Ctrl-C during "hot swap under load" used to leave the tritonclient threads running at
    interpreter exit: the demo printed "interrupted", then crashed (Segmentation fault, 139)."""
    (port,) = free_ports(1)  # nothing listens: every request fails at once
    generator = LoadGenerator(
        f"http://127.0.0.1:{port}", "digits", np.zeros((4, 64)), clients=3, duration=60
    )
    before = set(threading.enumerate())

    def tick(elapsed: float) -> None:
        if elapsed > 0.3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generator.run(on_tick=tick)
    assert set(threading.enumerate()) - before == set()
