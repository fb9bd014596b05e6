"""infra/config/registry_auth.py: ``kubeai:glue.auth``, who may call the model registry."""

from __future__ import annotations

import copy
from typing import Any, get_args

import pytest

from glue.model_registry.auth import settings as registry_settings
from glue.model_registry.auth.settings import Role
from infra.addons.argo import WORKFLOW_SERVICE_ACCOUNT
from infra.config import RegistryAuth, platform_outputs
from infra.config.registry_auth import DEFAULT_SERVICE_ACCOUNT_ROLES, AccountRole, RegistryRole
from tests.infra import factories


def _with_auth(auth: dict[str, Any]) -> dict[str, Any]:
    values = factories.platform_values("eks")
    values["glue"] = {**copy.deepcopy(values["glue"]), "auth": auth}
    return values


def test_default_is_token_review_for_the_agents_audience() -> None:
    """Without ``kubeai:glue.auth`` the registry reviews ServiceAccount tokens of audience
    ``kubeai-registry``; ServiceAccounts are writers of their team; no OIDC, no static tokens,
    nobody bound, no controller yet; team stacks are told the agents' audience."""
    config = factories.platform_config("eks")
    auth = config.glue.auth
    assert auth == RegistryAuth()
    assert auth.kubernetes.enabled and auth.kubernetes.audiences == ["kubeai-registry"]
    assert auth.oidc.issuer is None and auth.static_tokens.existing_secret is None
    assert (auth.bindings, auth.controllers, auth.service_account_role) == ([], [], "writer")
    assert auth.service_account_roles == {"kubeai-workflow": "promoter"}  # the pipeline's steps
    assert not auth.protect_metrics and not auth.protect_docs
    assert platform_outputs(config).registry_audience == "kubeai-registry"


def test_every_key_parses_from_camel_case() -> None:
    """Every key of the block, spelled as in the stack file."""
    config = factories.platform_config(
        "eks",
        glue={
            **factories.platform_values("eks")["glue"],
            "auth": {
                "kubernetes": {
                    "audiences": ["registry.example", "kubeai-registry"],
                    "cacheSeconds": 0,
                },
                "oidc": {
                    "issuer": "https://login.example.com/realms/kubeai",
                    "audience": "kubeai",
                    "usernameClaim": "email",
                    "groupsClaim": "roles",
                    "usernamePrefix": "sso:",
                    "groupsPrefix": "sso-group:",
                    "caConfigMap": "corporate-ca",
                    "caConfigMapKey": "bundle.pem",
                },
                "staticTokens": {"existingSecret": "registry-tokens", "key": "tokens"},
                "admins": {"groups": ["sso-group:platform"]},
                "bindings": [{"team": "*", "role": "reader", "groups": ["sso-group:auditors"]}],
                "serviceAccountRole": "agent",
                "serviceAccountRoles": {"trainer": "writer"},
                "controllers": ["kubeai-system/kubeai-controller"],
                "protectMetrics": True,
                "protectDocs": True,
            },
        },
    )
    auth = config.glue.auth
    assert auth.oidc.ca_config_map == "corporate-ca" and auth.oidc.groups_prefix == "sso-group:"
    assert auth.static_tokens.key == "tokens" and auth.service_account_role == "agent"
    assert auth.service_account_roles == {"kubeai-workflow": "promoter", "trainer": "writer"}
    assert auth.kubernetes.cache_seconds == 0 and auth.protect_docs
    assert platform_outputs(config).registry_audience == "registry.example"


def test_without_token_review_agents_get_no_token() -> None:
    """OIDC only: the platform exports no audience, so team stacks mount no token (and runs no
    lifecycle controller, which authenticates with a ServiceAccount token)."""
    config = factories.platform_config(
        "eks",
        glue={
            **factories.platform_values("eks")["glue"],
            "auth": {"kubernetes": {"enabled": False}, "oidc": {"issuer": "https://idp.example"}},
            "controller": {"enabled": False},
        },
    )
    assert config.glue.auth.agent_audience is None
    assert platform_outputs(config).registry_audience is None


@pytest.mark.parametrize(
    ("auth", "path", "text"),
    [
        (
            {"kubernetes": {"enabled": False}},
            "kubeai:glue.auth",
            "no authenticator",
        ),
        (
            {"bindings": [{"team": "vision", "role": "owner", "users": ["a"]}]},
            "kubeai:glue.auth.bindings[0].role",
            "'promoter'",
        ),
        (
            {"bindings": [{"team": "Vision", "role": "reader", "users": ["a"]}]},
            "kubeai:glue.auth.bindings[0].team",
            "not a team",
        ),
        (
            {"bindings": [{"team": "vision", "role": "reader"}]},
            "kubeai:glue.auth.bindings[0]",
            "names no user or group",
        ),
        (
            {"oidc": {"issuer": "http://login.example.com"}},
            "kubeai:glue.auth.oidc.issuer",
            "https://",
        ),
        (
            {"controllers": ["kubeai-controller"]},
            "kubeai:glue.auth.controllers",
            "namespace/name",
        ),
        (
            {"kubernetes": {"audiences": []}},
            "kubeai:glue.auth.kubernetes.audiences",
            "at least 1",
        ),
        (
            {"kubernetes": {"cacheSeconds": 3600}},
            "kubeai:glue.auth.kubernetes.cacheSeconds",
            "300",
        ),
        (
            {"serviceAccountRole": "admin"},
            "kubeai:glue.auth.serviceAccountRole",
            "'none'",
        ),
        (
            {"serviceAccountRoles": {"trainer": "owner"}},
            "kubeai:glue.auth.serviceAccountRoles.trainer",
            "'none'",
        ),
        (
            {"serviceAccountRoles": {"cv/trainer": "writer"}},
            "kubeai:glue.auth.serviceAccountRoles",
            "pattern",
        ),
        (
            {"staticTokens": {"existingSecret": "Registry_Tokens"}},
            "kubeai:glue.auth.staticTokens.existingSecret",
            "",
        ),
        (
            {"protectMetric": True},
            "kubeai:glue.auth.protectMetric",
            "did you mean 'protectMetrics'?",
        ),
    ],
    ids=[
        "no-authenticator",
        "bad-role",
        "bad-team",
        "binding-without-subjects",
        "http-issuer",
        "controller-without-namespace",
        "no-audience",
        "cache-too-long",
        "bad-service-account-role",
        "bad-service-account-roles-role",
        "namespaced-service-account-name",
        "bad-secret-name",
        "typo",
    ],
)
def test_errors_name_the_key_path(auth: dict[str, Any], path: str, text: str) -> None:
    """Each bad ``kubeai:glue.auth`` value is one problem at its key path, saying what is wrong."""
    problems = dict(factories.config_problems(_with_auth(auth)))
    assert path in problems, problems
    assert text in problems[path]


def test_roles_are_the_registrys() -> None:
    """The roles a binding may grant are exactly the registry's."""
    assert set(get_args(RegistryRole)) == set(get_args(Role))


def test_service_account_roles_are_the_registrys() -> None:
    """``serviceAccountRole`` and ``serviceAccountRoles`` take the registry's roles and ``none``;
    the default map is the registry's and names the pipeline's ServiceAccount."""
    field = RegistryAuth.model_fields["service_account_role"]
    assert set(get_args(field.annotation)) == {*get_args(Role), "none"}
    assert set(get_args(AccountRole)) == {*get_args(Role), "none"}
    assert DEFAULT_SERVICE_ACCOUNT_ROLES == registry_settings.DEFAULT_SERVICE_ACCOUNT_ROLES
    assert set(DEFAULT_SERVICE_ACCOUNT_ROLES) == {WORKFLOW_SERVICE_ACCOUNT}
