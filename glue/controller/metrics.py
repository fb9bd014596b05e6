"""Prometheus metrics of the lifecycle controller (prometheus-client), served on ``/metrics``.

- ``kubeai_controller_events_total{kind,phase}``: finished jobs the handlers were given.
- ``kubeai_controller_registrations_total{outcome}``: how handling a job ended: ``created`` (a
  new version), ``existing`` (the registry already had the job's version: a replay, a restart,
  or the job registered itself), ``training_failed`` (no version), ``refused`` (bad input).
- ``kubeai_controller_failures_total{reason}``: attempts that failed and will be retried
  (``registry_unavailable``, ``storage_unavailable``, ``dataset_unknown``, ``apiserver``) or
  were refused (``refused``).
- ``kubeai_controller_registration_lag_seconds``: from the job's completion time to the version
  being registered (histogram, seconds).
- ``kubeai_controller_leader``: 1 while this replica holds the Lease.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

#: The controller's own collector registry (no process/platform collectors of other modules).
REGISTRY = CollectorRegistry()

EVENTS = Counter(
    "kubeai_controller_events_total",
    "Finished training jobs handed to the controller's handlers.",
    ["kind", "phase"],
    registry=REGISTRY,
)
REGISTRATIONS = Counter(
    "kubeai_controller_registrations_total",
    "Handled training jobs by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
FAILURES = Counter(
    "kubeai_controller_failures_total",
    "Failed registration attempts by reason.",
    ["reason"],
    registry=REGISTRY,
)
LAG = Histogram(
    "kubeai_controller_registration_lag_seconds",
    "Seconds from a training job's completion to its version being registered.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
LEADER = Gauge(
    "kubeai_controller_leader",
    "1 while this replica holds the leader Lease, else 0.",
    registry=REGISTRY,
)


def serve(port: int, address: str) -> None:
    """Serve ``/metrics`` of ``REGISTRY`` on ``address:port`` in a daemon thread (0: off)."""
    if port:
        start_http_server(port, addr=address, registry=REGISTRY)
