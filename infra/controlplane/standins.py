"""Stand-ins for what a real cluster runs and this control plane cannot, while an engine works.

``pulumi up`` against the control plane (``infra.engine``) creates objects on its own schedule,
so the one-off steps of ``infra.controlplane.install`` (bind claims after the install, delete
webhook configurations before the workloads) run here continuously, in a background thread,
until the block ends:

* **storage provisioner**: every target cluster (kind, EKS, GKE, ACK) brings a default
  provisioner; ``install.provision_volumes`` binds each Pending claim to a volume made for it;
* **upstream admission webhooks**: Volcano's, Fluid's and the training operator's webhook servers
  are pods KWOK only pretends to run, so with ``failurePolicy: Fail`` every matching request
  would be refused. Each ``ValidatingWebhookConfiguration``/``MutatingWebhookConfiguration``
  that calls a Service is deleted as soon as it appears (the install module's docstring has the
  reasoning). Nothing the engine sends is changed; on a real cluster none of this runs.

Used by the engine tests and by ``kubeai dev cluster up`` (so ``kubeai stack up`` can target a
development plane).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

import httpx

from infra.controlplane.install import provision_volumes

#: The admission webhook configuration collections.
WEBHOOK_COLLECTIONS = (
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
)


def remove_service_webhooks(api: httpx.Client) -> list[str]:
    """Delete every webhook configuration with a webhook that calls a Service (not a URL);
    returns ``<collection name>/<name>`` of each one deleted."""
    removed: list[str] = []
    for collection in WEBHOOK_COLLECTIONS:
        response = api.get(collection)
        if not response.is_success:
            continue
        for item in response.json().get("items") or []:
            hooks = item.get("webhooks") or []
            if not any((hook.get("clientConfig") or {}).get("service") for hook in hooks):
                continue
            name = item["metadata"]["name"]
            if api.delete(f"{collection}/{name}").is_success:
                removed.append(f"{collection.rsplit('/', 1)[-1]}/{name}")
    return removed


class StandIns:
    """A thread running ``provision_volumes`` and ``remove_service_webhooks`` every
    ``interval`` seconds with a client from ``client_factory`` until ``stop()`` (or the end of
    a ``with`` block). Errors of one round (the apiserver restarting, a 409) are counted in
    ``errors`` and the next round tries again; ``log`` receives one line per action taken.
    """

    def __init__(
        self,
        client_factory: Callable[[], httpx.Client],
        *,
        interval: float = 0.5,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._interval = interval
        self._log = log or (lambda line: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="standins", daemon=True)
        self.errors = 0
        self.volumes: list[str] = []
        self.webhooks: list[str] = []

    def start(self) -> StandIns:
        """Start the thread; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and wait for its current round to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def __enter__(self) -> StandIns:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _loop(self) -> None:
        with self._client_factory() as api:
            while not self._stop.is_set():
                try:
                    for volume in provision_volumes(api):
                        self.volumes.append(volume)
                        self._log(f"stand-in provisioner: bound a claim to {volume}")
                    for webhook in remove_service_webhooks(api):
                        self.webhooks.append(webhook)
                        self._log(f"stand-in: removed {webhook} (its server cannot run on KWOK)")
                except (httpx.HTTPError, ValueError, KeyError):
                    self.errors += 1
                self._stop.wait(self._interval)
