"""The dataset handlers under kopf on a real apiserver: Fluid Datasets of a team namespace reach
the registry and follow their status; other namespaces' Datasets do not.

The pinned Fluid v1.0.8 Dataset CRD (``infra.upstream.ensure("crds")``) is applied to the session's
control plane. Fluid's controller is not available here (no Fluid runtime, no data), so the test
writes each Dataset's status through the ``status`` subresource as Fluid's controller would
(``phase``, ``ufsTotal``, ``fileNum``, ``cacheStates``, in Fluid's own formats). kopf runs the
handlers of ``glue.controller.datasets.register_handlers`` in a thread, logged in with the
plane's admin token, against a real registry served on loopback.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import kopf
import pytest
import yaml

from glue.controller.datasets import register_handlers
from glue.model_registry import schemas
from infra import upstream
from infra.controlplane.harness import ControlPlane
from tests.support.kubeapi import KubeApi
from tests.support.registry import RegistryServer

DATASET_CRD = "fluid/v1.0.8/data.fluid.io_datasets.yaml"
FLUID_API = "data.fluid.io/v1alpha1"
TEAM_LABEL = "kubeai.dev/team"
TEAM_NS = "lineage-cv"
OTHER_NS = "lineage-none"


@pytest.fixture(scope="module")
def kube(control_plane: ControlPlane) -> Iterator[KubeApi]:
    """The admin's API with the Fluid Dataset CRD and the two namespaces (one of team cv)."""
    crd = yaml.safe_load((upstream.ensure("crds") / DATASET_CRD).read_text())
    with control_plane.client(timeout=60.0) as admin:
        api = KubeApi(admin)
        api.apply_all([crd])
        api.wait_established([crd["metadata"]["name"]])
        api.apply_all(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": TEAM_NS, "labels": {TEAM_LABEL: "cv"}},
                },
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OTHER_NS}},
            ]
        )
        yield api


@pytest.fixture
def operator(
    control_plane: ControlPlane, kube: KubeApi, registry: RegistryServer
) -> Iterator[None]:
    """kopf running the dataset handlers (cluster-wide, standalone) until the test ends."""
    handlers = kopf.OperatorRegistry()
    register_handlers(
        handlers,
        client_factory=lambda: registry.client(team=None),
        team_label=TEAM_LABEL,
        retry_first=0.2,
        retry_max=1.0,
    )

    @kopf.on.login(registry=handlers)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=control_plane.server,
            ca_path=str(control_plane.ca_cert),
            token=control_plane.token,
            scheme="Bearer",
        )

    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = 30
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(
            kopf.operator(
                registry=handlers,
                settings=settings,
                clusterwide=True,
                standalone=True,
                stop_flag=stop,
                ready_flag=ready,
            )
        ),
        daemon=True,
    )
    thread.start()
    assert ready.wait(60), "kopf did not start"
    yield
    stop.set()
    thread.join(30)


#: The condition Fluid's controller sets once the runtime is bound (``status.conditions`` is
#: required by the CRD whenever a status is written).
READY = {
    "type": "Ready",
    "status": "True",
    "reason": "DatasetReady",
    "message": "The ddc runtime is ready.",
    "lastTransitionTime": "2026-11-30T20:00:00Z",
    "lastUpdateTime": "2026-11-30T20:00:00Z",
}


def dataset(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": FLUID_API,
        "kind": "Dataset",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "mounts": [
                {
                    "name": name,
                    "mountPoint": f"s3://training-data/{name}",
                    "path": "/",
                    "options": {"fs.s3a.endpoint": "minio:9000"},
                }
            ]
        },
    }


def write_status(kube: KubeApi, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Patch the Dataset's status subresource, as Fluid's controller does."""
    path = kube.path(FLUID_API, "Dataset", namespace=namespace, name=name) + "/status"
    response = kube.client.patch(
        path,
        json={"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.is_success, response.text


def eventually(
    read: Callable[[], schemas.DatasetRead | None],
    ok: Callable[[schemas.DatasetRead], bool],
    timeout: float = 60,
) -> schemas.DatasetRead:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = read()
        if last is not None and ok(last):
            return last
        time.sleep(0.3)
    raise AssertionError(f"registry record never matched; last: {last}")


@pytest.mark.usefixtures("operator")
def test_datasets_follow_fluid_status(kube: KubeApi, registry: RegistryServer) -> None:
    kube.apply_all([dataset(TEAM_NS, "mnist"), dataset(OTHER_NS, "mnist-untracked")])
    uid = kube.client.get(kube.path(FLUID_API, "Dataset", namespace=TEAM_NS, name="mnist")).json()[
        "metadata"
    ]["uid"]

    def read() -> schemas.DatasetRead | None:
        with registry.client(team="cv") as client:
            page = client.list_datasets()
        return next((d for d in page.items if d.name == "mnist"), None)

    first = eventually(read, lambda d: True)
    assert first.source is not None and first.source.uid == uid
    assert first.source.namespace == TEAM_NS and first.uri == "s3://training-data/mnist"
    assert first.phase == "" and first.size_bytes is None

    write_status(
        kube,
        TEAM_NS,
        "mnist",
        {
            "conditions": [READY],
            "phase": "Bound",
            "ufsTotal": "52.43MiB",
            "fileNum": "70000",
            "cacheStates": {
                "cacheCapacity": "1.00GiB",
                "cached": "0.00B",
                "cachedPercentage": "0.0%",
            },
        },
    )
    bound = eventually(read, lambda d: d.phase == "Bound")
    assert bound.size_bytes == round(52.43 * 1024**2) and bound.file_count == 70000
    assert bound.cache is not None and bound.cache.capacity_bytes == 1024**3

    write_status(
        kube,
        TEAM_NS,
        "mnist",
        {
            "conditions": [READY],
            "cacheStates": {"cached": "52.43MiB", "cachedPercentage": "100.0%"},
        },
    )
    cached = eventually(read, lambda d: d.cache is not None and d.cache.cached_percentage == 100)
    assert cached.cache is not None and cached.cache.cached_bytes == round(52.43 * 1024**2)

    response = kube.client.delete(kube.path(FLUID_API, "Dataset", namespace=TEAM_NS, name="mnist"))
    assert response.is_success, response.text
    gone = eventually(read, lambda d: d.deleted_at is not None)
    assert gone.source is not None and gone.source.uid == uid

    # the Dataset of the namespace without the team label never reached the registry
    with registry.client(team="cv") as client:
        assert [d.name for d in client.list_datasets().items] == ["mnist"]
        events = [e.detail["outcome"] for e in client.audit(team="cv").items]
    assert events[-1] == "created" and set(events[:-1]) == {"updated"} and len(events) >= 3
