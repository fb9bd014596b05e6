"""Who is calling: the ``Principal`` every authenticator returns, and the errors they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from glue.model_registry.errors import RegistryProblem

#: How a principal was authenticated.
Method = Literal["kubernetes", "oidc", "static", "open"]

#: User name prefix of ServiceAccounts (Kubernetes: ``system:serviceaccount:<ns>:<name>``).
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        name: user name as the authenticator reports it (``alice``,
            ``system:serviceaccount:cv:trainer``, ``local`` when the registry is open).
        groups: group names (OIDC groups claim, static token groups, Kubernetes groups).
        method: how the caller was authenticated.
        pod: for a ServiceAccount token bound to a pod, the pod's name (TokenReview's
            ``authentication.kubernetes.io/pod-name`` extra); None otherwise.
    """

    name: str
    groups: frozenset[str] = field(default_factory=frozenset)
    method: Method = "static"
    pod: str | None = None

    @property
    def service_account(self) -> tuple[str, str] | None:
        """``(namespace, name)`` when the caller is a Kubernetes ServiceAccount (authenticated
        by TokenReview), else None."""
        if self.method != "kubernetes" or not self.name.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        return (namespace, name) if namespace and name else None


#: The caller of an open registry (no authenticator configured; loopback only).
LOCAL = Principal(name="local", method="open")


class Unauthenticated(RegistryProblem):
    """No credentials, or credentials the registry cannot verify (401).

    The response carries ``WWW-Authenticate: Bearer`` (RFC 6750 section 3).
    """

    status = 401
    title = "Unauthenticated"


class Forbidden(RegistryProblem):
    """An authenticated caller lacks the role the request needs (403)."""

    status = 403
    title = "Forbidden"


class AuthUnavailable(RegistryProblem):
    """The token could not be checked now (TokenReview or JWKS unreachable); retry (503)."""

    status = 503
    title = "Service unavailable"
