"""infra/controlplane/standins.py on the real control plane: a Pending claim gets a volume, a
webhook configuration that calls a Service disappears, one that calls a URL stays."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from infra.controlplane.harness import ControlPlane
from infra.controlplane.standins import WEBHOOK_COLLECTIONS, StandIns, remove_service_webhooks

VALIDATING = WEBHOOK_COLLECTIONS[0]


def _webhook_configuration(name: str, client_config: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": f"{name}.kubeai.dev",
                "clientConfig": client_config,
                "rules": [
                    {
                        "apiGroups": ["kubeai.dev"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["nothings"],
                    }
                ],
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Fail",
            }
        ],
    }


def _until(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_only_webhooks_calling_a_service_are_removed(control_plane: ControlPlane) -> None:
    service = {"service": {"namespace": "default", "name": "nowhere", "path": "/v"}}
    url = {"url": "https://127.0.0.1:1/validate"}
    with control_plane.client() as api:
        for name, config in (("standin-service", service), ("standin-url", url)):
            response = api.post(VALIDATING, json=_webhook_configuration(name, config))
            assert response.status_code == 201, response.text
        removed = remove_service_webhooks(api)
        assert "validatingwebhookconfigurations/standin-service" in removed
        assert api.get(f"{VALIDATING}/standin-service").status_code == 404
        assert api.get(f"{VALIDATING}/standin-url").status_code == 200
        api.delete(f"{VALIDATING}/standin-url")


def test_the_thread_binds_claims_made_while_it_runs(control_plane: ControlPlane) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "standin-claim"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    path = "/api/v1/namespaces/default/persistentvolumeclaims"
    with control_plane.client() as api, StandIns(control_plane.client, interval=0.2) as standins:
        assert api.post(path, json=claim).status_code == 201

        def bound() -> bool:
            response: httpx.Response = api.get(f"{path}/standin-claim")
            return (response.json().get("status") or {}).get("phase") == "Bound"

        assert _until(bound), api.get(f"{path}/standin-claim").json().get("status")
        assert standins.volumes and standins.errors == 0
        api.delete(f"{path}/standin-claim")
