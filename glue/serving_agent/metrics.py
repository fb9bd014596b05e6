"""Prometheus metrics of one serving agent, on a ``CollectorRegistry`` of its own.

Names (all prefixed ``kubeai_agent_``):

- ``sync_duration_seconds`` (histogram): one reconcile, registry fetch to status report;
- ``load_duration_seconds{model}`` (histogram): a hot swap, first load call to confirmed READY;
- ``load_failures_total{model,reason}`` (counter): versions that could not be served, ``reason``
  one of ``checksum_mismatch``, ``artifact_not_found``, ``storage_unavailable``,
  ``invalid_uri``, ``artifact_error``, ``layout``, ``load_refused``, ``not_ready``, ``io``;
- ``served_version{model}`` (gauge): the version READY in Triton (0 when none);
- ``registry_errors_total{operation}`` (counter): failed ``desired``/``report``/``forget`` calls.

They are served over HTTP by ``endpoint.AgentEndpoint`` (``/metrics``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class AgentMetrics:
    """The agent's metrics; ``registry`` is created per instance unless given.

    Attributes:
        registry: the ``CollectorRegistry`` holding every metric below.
        sync_duration, load_duration, load_failures, served_version, registry_errors: see the
            module docstring.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.sync_duration = Histogram(
            "kubeai_agent_sync_duration_seconds",
            "Duration of one reconcile (registry fetch to status report), seconds.",
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.load_duration = Histogram(
            "kubeai_agent_load_duration_seconds",
            "Duration of one hot swap (first load call to confirmed READY), seconds.",
            ["model"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.load_failures = Counter(
            "kubeai_agent_load_failures",
            "Model versions that could not be installed or loaded, by reason.",
            ["model", "reason"],
            registry=self.registry,
        )
        self.served_version = Gauge(
            "kubeai_agent_served_version",
            "Model version READY in Triton (0 when none).",
            ["model"],
            registry=self.registry,
        )
        self.registry_errors = Counter(
            "kubeai_agent_registry_errors",
            "Failed registry calls, by operation (desired, report, forget).",
            ["operation"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The metrics in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """Current value of one sample (e.g. ``kubeai_agent_load_failures_total``), or None."""
        return self.registry.get_sample_value(name, labels or {})
