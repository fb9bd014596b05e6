"""Prometheus metrics of the registry (one ``CollectorRegistry`` per app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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

    def count_registration(self, outcome: Outcome) -> None:
        """Count one version registration by its outcome."""
        self.registrations.labels(outcome).inc()
