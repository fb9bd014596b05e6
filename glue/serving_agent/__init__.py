"""Serving agent: runs beside one tritonserver, syncs the registry's desired model versions.

Entry points: ``ServingAgent`` (``reconcile_once``, ``run``), ``AgentSettings``, and
``python -m glue.serving_agent``.
"""
