"""The lifecycle controller (kopf): finished training jobs become registry versions.

Modules: ``settings`` (``KUBEAI_CONTROLLER_*``), ``jobs`` (pure functions over job objects),
``registration`` (the registration use case), ``kube`` (the controller's own apiserver access),
``leader`` (Lease-based leader election), ``metrics`` (Prometheus), ``operator`` (kopf handlers
and the run loop). Run it with ``python -m glue.controller``.
"""
