"""The swap benchmark's load recorder and stall figures (``benchmarks.swap``), without Triton."""

from __future__ import annotations

from benchmarks.swap import SETTLE_SECONDS, _Recorder, stall_figures
from glue.demo.loadgen import Sample


def test_recorder_grows_past_its_chunk_and_keeps_every_sample_and_error() -> None:
    recorder = _Recorder()
    total = _Recorder.CHUNK + 10
    for i in range(total):
        recorder.add(float(i), 0.001, 2 if i % 7 else -1, "" if i % 7 else f"refused {i}")
    assert recorder.count == total
    assert list(recorder.sent[: recorder.count]) == [float(i) for i in range(total)]
    assert recorder.version[_Recorder.CHUNK + 2] == 2 and recorder.version[7] == -1
    assert recorder.errors[7] == "refused 7" and recorder.errors[_Recorder.CHUNK + 5] == (
        f"refused {_Recorder.CHUNK + 5}"
    )
    assert len(recorder.errors) == len(range(0, total, 7))


def test_stall_figures_bound_the_rollout_and_show_the_new_versions_own_latency() -> None:
    start = 0.0
    steady = [Sample(SETTLE_SECONDS + i * 0.01, 0.002, True, 1) for i in range(500)]
    steady.append(Sample(SETTLE_SECONDS + 5.0, 0.004, True, 1))  # p99 stays 2 ms
    began, ended = 10.0, 12.0
    rollout = [Sample(11.0, 0.015, True, 2), Sample(9.999, 0.0105, True, 1)]  # 2nd: in flight
    after = [Sample(12.5, 0.030, True, 2), Sample(14.5, 0.001, True, 2)]  # 14.5: past the window
    figures = stall_figures(
        steady + rollout + after, load_started=start, started=began, finished=ended
    )
    assert figures["steady_latency_ms"]["p99"] == 2.0
    assert figures["bound_ms"] == 14.0
    assert figures["rollout_max_latency_ms"] == 15.0 and figures["rollout_requests_in_flight"] == 2
    assert figures["bound_met"] is False
    assert figures["after_same_length_max_latency_ms"] == 30.0
    assert figures["after_latency_ms"]["count"] == 1
