"""The traffic reader: Triton's per-version counters, parsed from text the real tritonserver
2.51 binary exported, and read from the session's real server."""

from __future__ import annotations

import httpx
import pytest

from glue.model_registry.schemas import TrafficCounters
from glue.serving_agent.traffic import TrafficReader, TrafficUnavailable, parse
from tests.support.triton import TritonFixture, infer, write_model

#: Lines of tritonserver 2.51's /metrics (nvidia-pytriton) run with
#: ``--metrics-config=summary_latencies=true``, after 5 good requests to version 3 of ``m``
#: (HELP lines and other families trimmed; one failure count and a NaN quantile added).
EXPORTED = """\
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="m",version="3"} 5
nv_inference_request_success{model="Not_A_Name",version="1"} 7
# TYPE nv_inference_request_failure counter
nv_inference_request_failure{model="m",reason="OTHER",version="3"} 0
nv_inference_request_failure{model="m",reason="BACKEND",version="3"} 2
nv_inference_request_failure{model="m",reason="CANCELED",version="3"} 0
nv_inference_request_failure{model="m",reason="REJECTED",version="3"} 1
# TYPE nv_inference_request_duration_us counter
nv_inference_request_duration_us{model="m",version="3"} 21653
nv_inference_request_duration_us{model="idle",version="1"} 0
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="idle",version="1"} 0
# TYPE nv_inference_request_summary_us summary
nv_inference_request_summary_us_count{model="m",version="3"} 5
nv_inference_request_summary_us_sum{model="m",version="3"} 21653
nv_inference_request_summary_us{model="m",version="3",quantile="0.5"} 517
nv_inference_request_summary_us{model="m",version="3",quantile="0.99"} 542
nv_inference_request_summary_us{model="idle",version="1",quantile="0.99"} NaN
"""


def test_parse_sums_failure_reasons_and_takes_the_p99_quantile() -> None:
    assert parse(EXPORTED) == [
        TrafficCounters(model="idle", version=1, success=0, failure=0, duration_us=0),
        TrafficCounters(
            model="m", version=3, success=5, failure=3, duration_us=21653, p99_us=542.0
        ),
    ]


def test_parse_without_summaries_has_no_p99_and_refuses_garbage() -> None:
    text = "\n".join(line for line in EXPORTED.splitlines() if "summary" not in line)
    assert [c.p99_us for c in parse(text)] == [None, None]
    with pytest.raises(ValueError):
        parse("nv_inference_request_success{model=\n")


def test_unreachable_endpoint_is_traffic_unavailable() -> None:
    reader = TrafficReader("http://127.0.0.1:9/metrics", timeout=0.5)
    with pytest.raises(TrafficUnavailable, match="unreadable"):
        reader.read()
    reader.close()


def test_real_tritonserver_exports_the_names_and_labels_read(
    triton_server: TritonFixture,
) -> None:
    """The session's tritonserver (no summaries): counters per model and version."""
    name = "traffic-probe"
    write_model(triton_server.repository / name, name, 2.0, version_dir="4")
    load = httpx.post(f"{triton_server.url}/v2/repository/models/{name}/load", timeout=120)
    assert load.status_code == 200, load.text
    try:
        for _ in range(3):
            assert infer(triton_server.url, name, [1.0]) == (4, [2.0])
        reader = TrafficReader(triton_server.server.metrics_url)
        (counters,) = [c for c in reader.read() if c.model == name]
        reader.close()
        assert (counters.version, counters.success, counters.failure) == (4, 3, 0)
        assert counters.duration_us > 0 and counters.p99_us is None
    finally:
        httpx.post(f"{triton_server.url}/v2/repository/models/{name}/unload", timeout=120)
