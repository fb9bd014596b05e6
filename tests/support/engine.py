"""Fixtures for the engine tests: the Pulumi engine (``infra.engine``) driving stacks against the
real control plane, inside a loopback-only network namespace (``make test-engine``).

``engine_binaries`` -> ``{name: path}`` (skips, or fails under ``CI=true``, when ``make engine``
has not run); ``unavailable_workloads(api)`` polls until every Deployment, StatefulSet and
DaemonSet in the cluster is Available and returns the ones that are not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.controlplane.install import workload_problem
from infra.engine.build import BuildError, installed
from tests.support.controlplane import unavailable

#: Workload collections checked by ``unavailable_workloads``, with their kind.
WORKLOADS = {
    "/apis/apps/v1/deployments": "Deployment",
    "/apis/apps/v1/statefulsets": "StatefulSet",
    "/apis/apps/v1/daemonsets": "DaemonSet",
}


@pytest.fixture(scope="session")
def engine_binaries() -> dict[str, Path]:
    """Paths of the built, current engine binaries (pulumi, pulumi-resource-kubernetes)."""
    try:
        return installed()
    except BuildError as exc:
        unavailable(str(exc))


def unavailable_workloads(api: httpx.Client, *, timeout: float = 120.0) -> dict[str, str]:
    """``{namespace/kind/name: why}`` of the workloads still not Available after ``timeout``
    seconds (``infra.controlplane.install.workload_problem``); empty when all are."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = api.get("/api/v1/nodes").json()["items"]
        problems: dict[str, str] = {}
        for collection, kind in WORKLOADS.items():
            for item in api.get(collection).json()["items"]:
                meta: dict[str, Any] = item["metadata"]
                problem = workload_problem({**item, "kind": kind}, nodes)  # lists omit kind
                if problem is not None:
                    problems[f"{meta['namespace']}/{kind}/{meta['name']}"] = problem
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(0.5)
