"""AgentMetrics: one CollectorRegistry per instance (served over HTTP: test_endpoint.py)."""

from __future__ import annotations

from glue.serving_agent.metrics import AgentMetrics


def test_instances_do_not_share_a_registry() -> None:
    a, b = AgentMetrics(), AgentMetrics()
    a.load_failures.labels(model="m", reason="layout").inc()
    a.served_version.labels(model="m").set(3)
    assert a.value("kubeai_agent_load_failures_total", {"model": "m", "reason": "layout"}) == 1
    assert b.value("kubeai_agent_load_failures_total", {"model": "m", "reason": "layout"}) is None
    assert a.value("kubeai_agent_served_version", {"model": "m"}) == 3


def test_every_metric_is_exposed() -> None:
    metrics = AgentMetrics()
    with metrics.sync_duration.time():
        pass
    metrics.load_duration.labels(model="m").observe(0.2)
    metrics.registry_errors.labels(operation="desired").inc()
    text = metrics.render().decode()
    for name in (
        "kubeai_agent_sync_duration_seconds_bucket",
        "kubeai_agent_load_duration_seconds_sum",
        "kubeai_agent_load_failures_total",
        "kubeai_agent_served_version",
        'kubeai_agent_registry_errors_total{operation="desired"} 1.0',
    ):
        assert name in text or name.split("{")[0] in text
