"""Authentication and authorization settings of the registry (``KUBEAI_REGISTRY_AUTH__*``).

Three ways to authenticate a bearer token, each enabled by its settings; a request is tried
against the enabled ones (see ``glue.model_registry.auth.authenticate``):

- ``kubernetes``: projected ServiceAccount tokens, checked with the TokenReview API of the
  cluster the registry runs in (serving agents, training jobs, the lifecycle controller).
- ``oidc``: OIDC ID/access tokens of people and third-party platforms, verified against the
  issuer's JWKS.
- ``static_tokens_file``: a CSV file in kube-apiserver's ``--token-auth-file`` format
  (``token,user,uid,"group1,group2"``), mounted from a Secret, for small installs.

With none enabled the registry is *open* (every caller is the local admin ``local``); it then
refuses to start on anything but a loopback address (``glue.model_registry.__main__``).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from glue.model_registry.auth.static import read_token_file
from glue.model_registry.schemas import DNS1123_LABEL

#: Roles a team binding grants (their permissions: ``glue.model_registry.auth.policy``).
Role = Literal["reader", "agent", "writer", "promoter"]

#: Name of the ServiceAccount the model-iteration pipeline's steps run as in each team namespace
#: (``glue.pipelines.templates.SERVICE_ACCOUNT``): its canary, release and rollback steps need
#: ``promote``.
WORKFLOW_SERVICE_ACCOUNT = "kubeai-workflow"

#: Roles of ServiceAccounts by name that ``AuthSettings.service_account_roles`` adds to.
DEFAULT_SERVICE_ACCOUNT_ROLES: dict[str, Role | Literal["none"]] = {
    WORKFLOW_SERVICE_ACCOUNT: "promoter"
}

#: A ServiceAccount name (Kubernetes: a DNS-1123 subdomain).
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

#: JWS algorithms an OIDC token may be signed with (asymmetric only: never ``none`` or HMAC).
Algorithm = Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]

#: The in-cluster ServiceAccount credentials every pod gets (Kubernetes docs, "Accessing the
#: Kubernetes API from a Pod").
IN_CLUSTER = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def require_https(url: str) -> None:
    """``ValueError`` unless ``url`` is https with a host, or http to a loopback IP or
    ``localhost`` (tests) - parsed, so ``http://127.0.0.1.nip.io`` or ``http://127.0.0.1@idp``
    (a remote host) is refused: keys fetched over plain HTTP could be replaced in transit."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r}: a URL with user information is refused")
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and (host == "localhost" or _is_loopback_ip(host)):
        return
    raise ValueError(f"{url!r} must be an https:// URL (http only to a loopback address)")


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KubernetesAuth(_Section):
    """TokenReview of projected ServiceAccount tokens.

    Attributes:
        enabled: check bearer tokens with the TokenReview API.
        audiences: audiences a token must carry (the agent's projected volume requests
            ``kubeai-registry``); TokenReview refuses a token for another audience.
        api_server: the API server URL; in a pod, ``https://kubernetes.default.svc``.
        ca_file: CA bundle of the API server.
        token_file: the registry's own credential for calling TokenReview (its ServiceAccount
            token; the account needs ``system:auth-delegator``). Read again on every call, as
            the kubelet rotates it.
        cache_seconds: how long a review's answer is reused (positive and negative), seconds.
        timeout_seconds: per-call timeout of the TokenReview request.
    """

    enabled: bool = False
    audiences: list[str] = Field(default_factory=lambda: ["kubeai-registry"], min_length=1)
    api_server: str = "https://kubernetes.default.svc"
    ca_file: Path = IN_CLUSTER / "ca.crt"
    token_file: Path = IN_CLUSTER / "token"
    cache_seconds: float = Field(default=10.0, ge=0, le=300)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


class OidcAuth(_Section):
    """OIDC bearer tokens (JWTs signed by the issuer's keys).

    Attributes:
        issuer: the ``iss`` every token must carry; discovery reads
            ``<issuer>/.well-known/openid-configuration`` for ``jwks_uri``. None disables OIDC.
        audience: the ``aud`` the token must contain (the registry's client id).
        username_claim: claim naming the user (``sub``, ``email``...).
        groups_claim: claim listing the user's groups (a list of strings).
        username_prefix: put before the user name (as kube-apiserver's
            ``--oidc-username-prefix``), so no OIDC user can be named like a ServiceAccount or
            a static-token user; bindings name ``oidc:alice``.
        groups_prefix: put before each group name (``--oidc-groups-prefix``).
        jwks_uri: the key set URL, when discovery is not wanted.
        ca_file: CA bundle for the issuer's TLS (default: the system's).
        algorithms: accepted signature algorithms (``none`` and HMAC are never accepted).
        leeway_seconds: clock skew allowed on ``exp``/``nbf``/``iat``.
        jwks_refresh_seconds: at most one key set refresh per this interval (a token with an
            unknown ``kid`` triggers one).
    """

    issuer: str | None = None
    audience: str = "kubeai-registry"
    username_claim: str = "sub"
    groups_claim: str = "groups"
    username_prefix: str = "oidc:"
    groups_prefix: str = "oidc:"
    jwks_uri: HttpUrl | None = None
    ca_file: Path | None = None
    algorithms: list[Algorithm] = Field(
        default_factory=lambda: list[Algorithm](["RS256", "ES256"]), min_length=1
    )
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_refresh_seconds: float = Field(default=60.0, ge=0, le=86_400)

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _https(cls, value: str | HttpUrl | None) -> str | HttpUrl | None:
        if value is not None:
            require_https(str(value))
        return value


class Subjects(_Section):
    """Who a binding applies to: user names and group names (exact match)."""

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class TeamBinding(Subjects):
    """Grant ``role`` in ``team`` to ``users`` and ``groups`` (like a Kubernetes RoleBinding).

    ``team: "*"`` grants the role in every team.
    """

    team: str
    role: Role

    @field_validator("team")
    @classmethod
    def _team(cls, value: str) -> str:
        if value != "*" and not re.fullmatch(DNS1123_LABEL, value):
            raise ValueError("team must be a DNS-1123 label or '*' (every team)")
        return value


class AuthSettings(_Section):
    """Authentication and authorization.

    Attributes:
        kubernetes: TokenReview of ServiceAccount tokens.
        oidc: OIDC tokens.
        static_tokens_file: kube-apiserver token file (CSV ``token,user,uid,"g1,g2"``).
        admins: platform admins: every role in every team, the registry-wide audit log.
        bindings: team role bindings of users and groups.
        service_account_role: role a ServiceAccount has in the team named like its namespace
            (training jobs register versions: ``writer``); ``none`` grants nothing.
        service_account_roles: ServiceAccount name -> role it has instead of
            ``service_account_role`` in the team named like its namespace (``none``: nothing).
            Entries add to or override ``DEFAULT_SERVICE_ACCOUNT_ROLES`` (the pipeline's
            ``kubeai-workflow`` is ``promoter``: its steps start, release and roll back
            canaries), as Helm merges the chart's default map with given values; map an account
            to ``none`` to take its role away. Whoever may run pods as a mapped account in a
            team namespace has its role in that team.
        controllers: ServiceAccounts (``namespace/name``) of the lifecycle controller: writer in
            every team, but a version it registers must come from a job in the model's team's
            namespace.
        protect_metrics: ``/metrics`` needs an authenticated caller.
        protect_docs: ``/docs``, ``/redoc`` and ``/openapi.json`` need an authenticated caller.
    """

    kubernetes: KubernetesAuth = Field(default_factory=KubernetesAuth)
    oidc: OidcAuth = Field(default_factory=OidcAuth)
    static_tokens_file: Path | None = None
    admins: Subjects = Field(default_factory=Subjects)
    bindings: list[TeamBinding] = Field(default_factory=list)
    service_account_role: Role | Literal["none"] = "writer"
    service_account_roles: dict[str, Role | Literal["none"]] = Field(
        default_factory=lambda: dict(DEFAULT_SERVICE_ACCOUNT_ROLES)
    )
    controllers: list[str] = Field(default_factory=list)
    protect_metrics: bool = False
    protect_docs: bool = False

    @field_validator("controllers")
    @classmethod
    def _controllers(cls, value: list[str]) -> list[str]:
        for item in value:
            namespace, _, name = item.partition("/")
            if not namespace or not name or "/" in name:
                raise ValueError(f"{item!r}: a controller is named namespace/name")
        return value

    @field_validator("service_account_roles")
    @classmethod
    def _account_names(
        cls, value: dict[str, Role | Literal["none"]]
    ) -> dict[str, Role | Literal["none"]]:
        for name in value:
            if not _ACCOUNT_NAME.match(name):
                raise ValueError(
                    f"{name!r}: a ServiceAccount name (DNS-1123 subdomain, no namespace)"
                )
        return {**DEFAULT_SERVICE_ACCOUNT_ROLES, **value}

    def service_account_role_of(self, name: str) -> Role | Literal["none"]:
        """The role of ServiceAccount ``name`` in its namespace's team (``none``: no role)."""
        return self.service_account_roles.get(name, self.service_account_role)

    @field_validator("static_tokens_file")
    @classmethod
    def _static_file_valid(cls, value: Path | None) -> Path | None:
        if value is not None:
            if not value.is_file():
                raise ValueError(f"{value} is not a file")
            read_token_file(value)  # StaticTokenError (a ValueError) names the file and line
        return value

    @property
    def enabled(self) -> bool:
        """Whether any authenticator is configured (else the registry is open)."""
        return bool(
            self.kubernetes.enabled or self.oidc.issuer or self.static_tokens_file is not None
        )
