"""ServiceAccount tokens checked with the Kubernetes TokenReview API.

The registry posts the caller's token to ``/apis/authentication.k8s.io/v1/tokenreviews`` of the
cluster it runs in, with the audiences it accepts; the API server verifies signature, expiry,
audience and that the bound objects (ServiceAccount, Pod or Secret) still exist. Source:
Kubernetes API reference, TokenReview v1 (authentication.k8s.io), and "Managing Service
Accounts" (bound service account tokens).

The registry's own ServiceAccount needs ``create`` on ``tokenreviews`` (the
``system:auth-delegator`` ClusterRole); the kubeai-glue chart binds it.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import structlog

from glue.model_registry.auth.principal import AuthUnavailable, Principal, Unauthenticated
from glue.model_registry.auth.settings import KubernetesAuth

log = structlog.get_logger("kubeai.registry")

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"  # noqa: S105 - a path
#: TokenReview extra key carrying the name of the pod a token is bound to.
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"


class TokenReviewer:
    """Verify bearer tokens with TokenReview (``review(token) -> Principal``).

    Raises ``Unauthenticated`` when the API server says the token is not valid for the
    registry's audiences (expired, wrong audience, account or pod deleted, not a token of this
    cluster) and ``AuthUnavailable`` when the API server cannot be asked (then nothing is cached).
    """

    def __init__(self, settings: KubernetesAuth) -> None:
        self.settings = settings
        context = ssl.create_default_context(cafile=str(settings.ca_file))
        self._http = httpx.Client(
            base_url=settings.api_server, verify=context, timeout=settings.timeout_seconds
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _credential(self) -> str:
        try:
            return self.settings.token_file.read_text().strip()
        except OSError as exc:
            raise AuthUnavailable(
                f"cannot read the registry's ServiceAccount token {self.settings.token_file}: "
                f"{exc.strerror}"
            ) from exc

    def review(self, token: str) -> Principal:
        """The principal the API server reports for ``token``."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": list(self.settings.audiences)},
        }
        try:
            response = self._http.post(
                TOKEN_REVIEWS,
                json=body,
                headers={"Authorization": f"Bearer {self._credential()}"},
            )
        except httpx.HTTPError as exc:
            log.warning("tokenreview unreachable", error=str(exc))
            raise AuthUnavailable(f"the Kubernetes API cannot review tokens now: {exc}") from exc
        if response.status_code != 201 and response.status_code != 200:
            log.warning(
                "tokenreview refused", status=response.status_code, body=response.text[:300]
            )
            raise AuthUnavailable(
                f"the Kubernetes API answered {response.status_code} to TokenReview "
                "(does the registry's ServiceAccount have system:auth-delegator?)"
            )
        return self._principal(response.json().get("status") or {})

    def _principal(self, status: dict[str, Any]) -> Principal:
        if not status.get("authenticated"):
            reason = status.get("error") or "the token is not valid"
            raise Unauthenticated(
                f"Kubernetes token refused: {reason} (tokens need the audience "
                f"{', '.join(self.settings.audiences)})"
            )
        accepted = set(status.get("audiences") or self.settings.audiences)
        if not accepted & set(self.settings.audiences):
            raise Unauthenticated("Kubernetes token has none of the registry's audiences")
        user = status.get("user") or {}
        extra = user.get("extra") or {}
        pods = extra.get(POD_NAME_EXTRA) or []
        return Principal(
            name=str(user.get("username", "")),
            groups=frozenset(str(g) for g in user.get("groups") or ()),
            method="kubernetes",
            pod=str(pods[0]) if pods else None,
        )
