"""Guardrails the platform installs in the cluster (the DESIGN's ``policies/``).

Kept inside the ``infra`` package, not at the repository root, because the Pulumi program and
``kubeai train submit`` import them: one distribution (``infra*``, ``glue*``), no second
top-level package. One module per guarded object kind: ``training`` (training jobs).
"""
