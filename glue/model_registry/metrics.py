"""Prometheus metrics of the registry (one ``CollectorRegistry`` per app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from glue.model_registry.service.registration import Outcome


class Metrics:
    """Prometheus metrics of one app instance (own ``CollectorRegistry``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "kubeai_registry_request_seconds",
            "Registry HTTP request latency in seconds, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.registrations = Counter(
            "kubeai_registry_registrations_total",
            "Model version registrations by outcome (created, existing, refused).",
            ["outcome"],
            registry=self.registry,
        )
        self.alias_moves = Counter(
            "kubeai_registry_alias_moves_total",
            "Alias moves by kind (set, rollback).",
            ["kind"],
            registry=self.registry,
        )

        self.read_answers = Counter(
            "kubeai_registry_read_answers_total",
            "Answers of the agents' read path by kind (service: desired state, model: version "
            "by number or alias) and status (200, 304).",
            ["kind", "status"],
            registry=self.registry,
        )
        self.read_cache = Counter(
            "kubeai_registry_read_cache_total",
            "Read-path answers taken from the process's cache (hit) or computed (miss), by kind.",
            ["kind", "result"],
            registry=self.registry,
        )
        self.long_poll_waiters = Gauge(
            "kubeai_registry_long_poll_waiters",
            "Long-polls this process holds now.",
            registry=self.registry,
        )

    def count_registration(self, outcome: Outcome) -> None:
        """Count one version registration by its outcome."""
        self.registrations.labels(outcome).inc()
