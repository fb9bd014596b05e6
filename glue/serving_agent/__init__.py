"""Serving agent: runs beside one tritonserver, syncs the registry's desired model versions.

Entry points: ``ServingAgent`` (``reconcile_once``, ``run``), ``AgentSettings``, and
``python -m glue.serving_agent``.

Modules: ``agent`` (the reconcile loop, orchestrating the rest), ``installer`` (stage, verify and
rename versions into the model repository; garbage collection), ``swapper`` (Triton loads and
unloads, readiness confirmed in the repository index), ``reporter`` (observed state, status
reports, retry and outage backoff), ``readiness`` (when the pod may take traffic),
``endpoint`` (``/metrics``, ``/readyz``, ``/healthz`` on one port), ``settings``, ``metrics``.
"""
