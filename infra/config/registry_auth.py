"""``kubeai:glue.auth``: who may call the model registry, and with which role in which team.

The keys mirror the kubeai-glue chart's ``registry.auth`` values (camelCase) and, through them,
the registry's ``KUBEAI_REGISTRY_AUTH__*`` settings (``glue.model_registry.auth.settings``).
By default the registry checks the projected ServiceAccount tokens of serving agents, training
jobs and the lifecycle controller with the Kubernetes TokenReview API (audience
``kubeai-registry``); people and third-party platforms come in through OIDC (``oidc.issuer``)
or, on small installs, static tokens from an existing Secret (``staticTokens.existingSecret``).
The registry listens on ``0.0.0.0`` in its pod and refuses to start without an authenticator,
so a configuration without one is refused here, naming ``kubeai:glue.auth``.

Roles per team (``bindings``): ``reader`` reads, ``agent`` reads and reports pods, ``writer``
registers versions and creates services, ``promoter`` also moves aliases and assignments;
``admins`` have every role in every team. A ServiceAccount has ``serviceAccountRole`` in the
team named like its namespace, or the role ``serviceAccountRoles`` maps its name to (the
model-iteration pipeline's ``kubeai-workflow`` is a promoter). A team's Kubernetes groups
(``kubeai:team.groups`` of its team stack) are not read by the platform stack: bind them here
(README, "Registry authentication").
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from infra.config.shared import Name, Strict

#: Roles a binding grants (the registry's ``glue.model_registry.auth.settings.Role``).
RegistryRole = Literal["reader", "agent", "writer", "promoter"]
#: The audience the serving agents' projected tokens are issued for by default.
DEFAULT_AUDIENCE = "kubeai-registry"

#: A user or group name exactly as the registry sees it (``oidc:alice``, a static token's user).
Subject = Annotated[str, StringConstraints(min_length=1, max_length=256)]
#: A key of a Secret or ConfigMap.
ObjectKey = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
]
#: An audience, claim name or similar token of text without spaces.
Word = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^\S+$")]
_TEAM = re.compile(r"^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$")
#: Role of a ServiceAccount in its namespace's team (``none``: no role).
AccountRole = Literal["reader", "agent", "writer", "promoter", "none"]
#: ServiceAccount names the registry gives a role of their own by default (the registry's
#: ``glue.model_registry.auth.settings.DEFAULT_SERVICE_ACCOUNT_ROLES``): the model-iteration
#: pipeline's steps start, release and roll back canaries.
DEFAULT_SERVICE_ACCOUNT_ROLES: dict[str, AccountRole] = {"kubeai-workflow": "promoter"}
#: A ServiceAccount name (DNS-1123 subdomain).
AccountName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
]
_ACCOUNT = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class TokenReviewAuth(Strict):
    """``kubeai:glue.auth.kubernetes``: ServiceAccount tokens checked with TokenReview.

    ``enabled`` (default true) also binds the registry's ServiceAccount to
    ``system:auth-delegator`` and makes team stacks give their serving agents a projected token
    for the first of ``audiences``; ``cacheSeconds`` (0..300) is how long an answer is reused.
    """

    enabled: bool = True
    audiences: list[Word] = Field(default_factory=lambda: [DEFAULT_AUDIENCE], min_length=1)
    cache_seconds: float = Field(default=10.0, ge=0, le=300)

    @field_validator("audiences")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("audiences must not repeat")
        return value


class OidcAuth(Strict):
    """``kubeai:glue.auth.oidc``: OIDC tokens of people and third-party platforms.

    ``issuer`` (an ``https://`` URL; None: OIDC off), ``audience`` (the registry's client id),
    ``usernameClaim``/``groupsClaim``, ``usernamePrefix``/``groupsPrefix`` (put before OIDC names,
    so bindings name ``oidc:alice``), ``caConfigMap``/``caConfigMapKey`` (an existing ConfigMap of
    the glue namespace with the issuer's CA bundle; None: the image's system CAs).
    """

    issuer: str | None = Field(default=None, pattern=r"^https://[^\s?#]+$")
    audience: Word = DEFAULT_AUDIENCE
    username_claim: Word = "sub"
    groups_claim: Word = "groups"
    username_prefix: str = Field(default="oidc:", max_length=64)
    groups_prefix: str = Field(default="oidc:", max_length=64)
    ca_config_map: Name | None = None
    ca_config_map_key: ObjectKey = "ca.crt"


class StaticTokens(Strict):
    """``kubeai:glue.auth.staticTokens``: an existing Secret of the glue namespace holding a
    kube-apiserver token file (CSV ``token,user,uid,"group1,group2"``) under ``key``;
    ``existingSecret`` None: static tokens off."""

    existing_secret: Name | None = None
    key: ObjectKey = "tokens.csv"


class Subjects(Strict):
    """Users and groups, by name as the registry sees them."""

    users: list[Subject] = Field(default_factory=list)
    groups: list[Subject] = Field(default_factory=list)


class RegistryBinding(Subjects):
    """One entry of ``kubeai:glue.auth.bindings``: ``role`` in ``team`` (a team name, or ``*``
    for every team) for ``users`` and ``groups`` (at least one subject)."""

    team: str
    role: RegistryRole

    @field_validator("team")
    @classmethod
    def _team(cls, value: str) -> str:
        if not _TEAM.match(value):
            raise ValueError(f"{value!r} is not a team: a DNS-1123 label, or '*' for every team")
        return value

    @model_validator(mode="after")
    def _someone(self) -> RegistryBinding:
        if not self.users and not self.groups:
            raise ValueError(
                f"the {self.role} binding of team {self.team!r} names no user or group"
            )
        return self


class RegistryAuth(Strict):
    """``kubeai:glue.auth``: the registry's authenticators and role bindings (module docstring).

    ``serviceAccountRole``: role of a ServiceAccount in its namespace's team (``none``: none);
    ``serviceAccountRoles``: ServiceAccount name -> its role there instead (``none``: none);
    entries add to or override ``{kubeai-workflow: promoter}``, as the chart's default map is
    merged with given values;
    ``controllers``: ``namespace/name`` ServiceAccounts of other lifecycle controllers (the
    platform's own, ``kubeai:glue.controller``, is added by the kubeai-glue chart);
    ``protectMetrics``/``protectDocs``: ``/metrics`` and the API docs need an authenticated
    caller (a Prometheus then needs a token the registry accepts).
    Raises ``ValueError`` (reported at ``kubeai:glue.auth``) when no authenticator is enabled.
    """

    kubernetes: TokenReviewAuth = Field(default_factory=TokenReviewAuth)
    oidc: OidcAuth = Field(default_factory=OidcAuth)
    static_tokens: StaticTokens = Field(default_factory=StaticTokens)
    admins: Subjects = Field(default_factory=Subjects)
    bindings: list[RegistryBinding] = Field(default_factory=list, max_length=500)
    service_account_role: AccountRole = "writer"
    service_account_roles: dict[AccountName, AccountRole] = Field(
        default_factory=lambda: dict(DEFAULT_SERVICE_ACCOUNT_ROLES), max_length=100
    )
    controllers: list[str] = Field(default_factory=list, max_length=20)
    protect_metrics: bool = False
    protect_docs: bool = False

    @field_validator("controllers")
    @classmethod
    def _controllers(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _ACCOUNT.match(item):
                raise ValueError(f"{item!r}: a controller is a ServiceAccount named namespace/name")
        if len(set(value)) != len(value):
            raise ValueError("controllers must not repeat")
        return value

    @field_validator("service_account_roles")
    @classmethod
    def _over_the_default(cls, value: dict[str, AccountRole]) -> dict[str, AccountRole]:
        return {**DEFAULT_SERVICE_ACCOUNT_ROLES, **value}

    @model_validator(mode="after")
    def _an_authenticator(self) -> RegistryAuth:
        if not (self.kubernetes.enabled or self.oidc.issuer or self.static_tokens.existing_secret):
            raise ValueError(
                "no authenticator: the registry listens on 0.0.0.0 in its pod and refuses to "
                "start open; keep kubernetes.enabled (TokenReview), or set oidc.issuer or "
                "staticTokens.existingSecret"
            )
        return self

    @property
    def agent_audience(self) -> str | None:
        """The audience serving agents request their token for (None: agents send none, as the
        registry does not review ServiceAccount tokens)."""
        return self.kubernetes.audiences[0] if self.kubernetes.enabled else None
