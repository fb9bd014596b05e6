"""A small Kubernetes API helper for the cluster tests: resource paths from the apiserver's own
discovery, server-side apply of manifests, CRD establishment, and clients that impersonate a user
or service account.

Private to the tests (the product's installer is ``infra.controlplane``'s business). Usage::

    with control_plane.client() as admin:
        kube = KubeApi(admin)
        kube.apply_all(docs)                       # ApplyError lists every refused object
        path = kube.path("v1", "Secret", namespace="kube-system")
    with impersonating(control_plane, "alice", groups=["cv-engineers"]) as alice:
        alice.get(path).status_code                # 403
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from infra.controlplane.harness import ControlPlane

#: The field manager of every apply made by the tests.
FIELD_MANAGER = "kubeai-tests"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
#: Query of a request the apiserver must authorize and admit but never persist.
DRY_RUN = {"dryRun": "All"}


class ApplyError(AssertionError):
    """The apiserver refused one or more objects; the message names each with its reason."""


@dataclass
class KubeApi:
    """Paths and server-side apply on ``client`` (an ``httpx.Client`` on the apiserver).

    Discovery documents are cached per group/version; ``forget`` drops the cache (after CRDs).
    """

    client: httpx.Client
    _resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)

    def forget(self) -> None:
        """Drop cached discovery, so newly established CRDs are seen."""
        self._resources.clear()

    def _discovery(self, api_version: str) -> dict[str, dict[str, Any]]:
        if api_version not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            response = self.client.get(base)
            if response.status_code == 404:
                raise LookupError(f"the apiserver serves no {api_version}")
            response.raise_for_status()
            self._resources[api_version] = {
                r["kind"]: r for r in response.json()["resources"] if "/" not in r["name"]
            }
        return self._resources[api_version]

    def path(
        self, api_version: str, kind: str, *, namespace: str | None = None, name: str = ""
    ) -> str:
        """The URL path of ``kind`` (a collection, or one object with ``name``).

        ``namespace`` is required for namespaced kinds and ignored for cluster-scoped ones.
        Raises ``LookupError`` for a kind the apiserver does not serve.
        """
        resource = self._discovery(api_version).get(kind)
        if resource is None:
            raise LookupError(f"the apiserver serves no {kind} in {api_version}")
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if resource["namespaced"]:
            if not namespace:
                raise ValueError(f"{kind} is namespaced: give a namespace")
            base += f"/namespaces/{namespace}"
        return f"{base}/{resource['name']}" + (f"/{name}" if name else "")

    def object_path(self, manifest: dict[str, Any]) -> str:
        """The URL path of the object ``manifest`` describes."""
        meta = manifest["metadata"]
        return self.path(
            manifest["apiVersion"],
            manifest["kind"],
            namespace=meta.get("namespace"),
            name=meta["name"],
        )

    def apply(self, manifest: dict[str, Any]) -> httpx.Response:
        """Server-side apply of one object (forcing conflicts, as ``FIELD_MANAGER``)."""
        return self.client.patch(
            self.object_path(manifest),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content=json.dumps(manifest),
            headers={"Content-Type": APPLY_CONTENT_TYPE},
        )

    def apply_all(self, manifests: Iterable[dict[str, Any]]) -> int:
        """Apply ``manifests`` in order; returns how many. Raises ``ApplyError`` listing every
        object the apiserver refused (kind, namespace/name, status, message)."""
        refused: list[str] = []
        count = 0
        for manifest in manifests:
            count += 1
            meta = manifest.get("metadata", {})
            where = f"{manifest.get('kind')} {meta.get('namespace') or '-'}/{meta.get('name')}"
            try:
                response = self.apply(manifest)
            except LookupError as exc:
                refused.append(f"{where}: {exc}")
                continue
            if not response.is_success:
                refused.append(f"{where}: {response.status_code} {message(response)}")
        if refused:
            raise ApplyError(f"{len(refused)} of {count} object(s) refused:\n" + "\n".join(refused))
        return count

    def wait_established(self, crd_names: Sequence[str], timeout: float = 60.0) -> None:
        """Wait until every named CRD reports ``Established=True``, then ``forget`` discovery.

        Raises ``TimeoutError`` naming the CRDs still not established.
        """
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        pending = set(crd_names)
        deadline = time.monotonic() + timeout
        while pending:
            for name in sorted(pending):
                status = self.client.get(f"{base}/{name}").json().get("status", {})
                conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
                if conditions.get("Established") == "True":
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"CRDs not established after {timeout:.0f} s: {sorted(pending)}")
            if pending:
                time.sleep(0.2)
        self.forget()


def message(response: httpx.Response) -> str:
    """The ``Status`` message of an apiserver answer (the body's text when it is not JSON)."""
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text


def impersonating(
    plane: ControlPlane, user: str, *, groups: Sequence[str] = (), timeout: float = 30.0
) -> httpx.Client:
    """An ``httpx.Client`` whose every request is made as ``user`` in ``groups``, through the
    admin's ``Impersonate-User``/``Impersonate-Group`` headers (the apiserver authorizes each
    request as the impersonated identity). ``user`` may be a service account
    (``system:serviceaccount:<namespace>:<name>``), which gets its service-account groups."""
    headers = [("Impersonate-User", user), *(("Impersonate-Group", g) for g in groups)]
    return bearer(plane, plane.token, headers=headers, timeout=timeout)


def bearer(
    plane: ControlPlane,
    token: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    timeout: float = 30.0,
) -> httpx.Client:
    """An ``httpx.Client`` on ``plane`` authenticated by ``token`` (e.g. a service account's
    token from a TokenRequest), sending ``headers`` (repeatable names allowed) on every request."""
    context = ssl.create_default_context(cafile=str(plane.ca_cert))
    return httpx.Client(
        base_url=plane.server,
        verify=context,
        headers=[("Authorization", f"Bearer {token}"), *headers],
        timeout=timeout,
        trust_env=False,
    )


def service_account_user(namespace: str, name: str) -> str:
    """The username a service account authenticates as."""
    return f"system:serviceaccount:{namespace}:{name}"


#: The SubjectAccessReview API (asks the apiserver's authorizers, RBAC included).
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def service_account_may(
    admin: httpx.Client, namespace: str, name: str, attributes: dict[str, str]
) -> bool:
    """Whether the apiserver lets ServiceAccount ``namespace/name`` (with its service-account
    groups) do ``attributes`` (SubjectAccessReview ``resourceAttributes``: ``verb``, ``group``,
    ``resource``, optional ``namespace``, ``name``, ``subresource``); ``admin`` may create
    reviews. Raises ``httpx.HTTPStatusError`` when the review itself is refused."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": service_account_user(namespace, name),
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            "resourceAttributes": attributes,
        },
    }
    response = admin.post(ACCESS_REVIEWS, json=review)
    response.raise_for_status()
    return bool(response.json()["status"].get("allowed"))


def token_request(
    admin: KubeApi,
    namespace: str,
    account: str,
    *,
    audiences: Sequence[str] = (),
    pod: dict[str, Any] | None = None,
    seconds: int = 600,
) -> str:
    """A token of the service account from the TokenRequest API, as the kubelet gets one for a
    projected volume: for ``audiences`` (empty: the apiserver's own), bound to ``pod`` (the Pod
    object as read back, for its name and uid) when given, valid ``seconds`` (>= 600)."""
    path = admin.path("v1", "ServiceAccount", namespace=namespace, name=account) + "/token"
    spec: dict[str, Any] = {"expirationSeconds": seconds}
    if audiences:
        spec["audiences"] = list(audiences)
    if pod is not None:
        spec["boundObjectRef"] = {
            "kind": "Pod",
            "apiVersion": "v1",
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        }
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    response = admin.client.post(path, json=request)
    assert response.status_code == 201, message(response)
    return str(response.json()["status"]["token"])
