"""bombardier's JSON report parsed into a ``LoadResult`` (``benchmarks.loadgen``)."""

from __future__ import annotations

from benchmarks.loadgen import RELEASE, parse

REPORT = {
    "spec": {"numberOfConnections": 32},
    "result": {
        "req1xx": 0,
        "req2xx": 9000,
        "req3xx": 1000,
        "req4xx": 2,
        "req5xx": 1,
        "others": 0,
        "errors": [{"description": "timeout", "count": 3}],
        "latency": {
            "mean": 900.0,
            "max": 25_000.0,
            "percentiles": {"50": 800, "90": 1500, "99": 12_500},
        },
        "rps": {"mean": 2000.25},
    },
}


def test_a_report_becomes_rates_percentiles_in_ms_and_failures() -> None:
    result = parse(REPORT, clients=32, seconds=5.0)
    assert result.requests == 10_003 and result.rps == 2000.2
    assert (result.p50_ms, result.p99_ms, result.max_ms) == (0.8, 12.5, 25.0)
    assert result.status["3xx"] == 1000 and result.errors == 3
    assert result.failed == 6 and result.as_dict()["failed"] == 6


def test_the_load_generator_is_pinned_by_its_wrapper_module() -> None:
    (binary,) = RELEASE.binaries
    gomod = (binary.module_dir / "go.mod").read_text()
    assert "tool github.com/codesenberg/bombardier" in gomod
    assert "github.com/codesenberg/bombardier v1.2.6" in gomod
    assert (binary.module_dir / "go.sum").is_file() and RELEASE.name.endswith("v1.2.6")
