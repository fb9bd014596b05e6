"""Behaviour of the kubeai-glue chart per scenario: database wiring (SQLite on a claim or
PostgreSQL from a Secret), replicas and rollout strategy, probes, artifact store settings, and
the registry container's environment checked against the registry's own settings class. The
lifecycle controller's objects are tested in ``test_glue_controller.py``; the tests here look at
the registry's objects (``REGISTRY`` component) unless they say otherwise."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glue.model_registry.app import create_app
from glue.model_registry.settings import RegistrySettings
from tests.charts.conftest import NAMESPACE, Render
from tests.charts.support import (
    Objects,
    by_kind,
    chart_path,
    component,
    container,
    env_of,
    literal_env,
    one,
    pod_spec,
    scenario_params,
    settings_from_env,
)
from tests.support.helm import HelmTools

CHART = "kubeai-glue"
CI = chart_path(CHART) / "ci"
PREFIX = "KUBEAI_REGISTRY_"
REGISTRY = "model-registry"
"""``app.kubernetes.io/component`` of the registry's objects."""


def _glue(render: Render, scenario: str) -> Objects:
    return component(render(CHART, CI / f"{scenario}-values.yaml"), REGISTRY)


def _registry(objects: Objects) -> dict:
    return container(objects, "registry")


def _volumes(objects: Objects) -> dict[str, dict]:
    return {v["name"]: v for v in pod_spec(objects)["volumes"]}


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_registry_env_is_what_the_registry_reads(
    render: Render, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chart: str, values: Path
) -> None:
    """Every KUBEAI_REGISTRY_* variable the chart sets is a RegistrySettings field, and the
    settings validate with them (secrets replaced by plausible values, the mounted token file
    by a local one); every scenario configures an authenticator, so the registry would start
    on the pod's 0.0.0.0 (``glue.model_registry.__main__`` refuses to serve open there)."""
    registry = _registry(component(render(chart, values), REGISTRY))
    env = literal_env(
        registry,
        {f"{PREFIX}DATABASE_URL": "postgresql+psycopg://kubeai:secret@postgres:5432/registry"},
    )
    if f"{PREFIX}AUTH__STATIC_TOKENS_FILE" in env:  # the registry checks the file exists
        tokens = tmp_path / "tokens.csv"
        tokens.write_text(f'{"s3cret" * 8},prometheus,1,"monitoring"\n')
        env[f"{PREFIX}AUTH__STATIC_TOKENS_FILE"] = str(tokens)
    settings = settings_from_env(RegistrySettings, PREFIX, env, monkeypatch)
    assert settings.max_body_bytes >= 1024
    assert settings.auth.enabled


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_registry_process_ports_and_probes(render: Render, chart: str, values: Path) -> None:
    """The registry listens on 0.0.0.0 at the container port the Service targets; liveness is
    /healthz, readiness /readyz, startup /healthz."""
    objects = component(render(chart, values), REGISTRY)
    registry = _registry(objects)
    assert registry["command"] == ["python", "-m", "glue.model_registry"]
    assert "--host=0.0.0.0" in registry["args"]
    port = registry["ports"][0]
    assert port["name"] == "http"
    assert f"--port={port['containerPort']}" in registry["args"]
    assert registry["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert registry["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert registry["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = one(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"].items() <= (
        one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )


def test_default_is_sqlite_on_a_kept_claim_with_one_replica(render: Render) -> None:
    """Default: SQLite file on a ReadWriteOnce claim that survives uninstall, one replica,
    Recreate rollout (never two writers), no PodDisruptionBudget."""
    objects = _glue(render, "default")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = one(objects, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    claim_name = _volumes(objects)["data"]["persistentVolumeClaim"]["claimName"]
    assert claim_name == claim["metadata"]["name"]
    env = env_of(_registry(objects))
    assert env[f"{PREFIX}DATABASE_URL"]["value"] == "sqlite:////data/registry.db"
    assert {"name": "data", "mountPath": "/data"} in _registry(objects)["volumeMounts"]
    assert not by_kind(objects, "PodDisruptionBudget")
    assert not by_kind(objects, "Secret")
    assert not by_kind(objects, "ServiceMonitor")


def test_postgresql_from_an_existing_secret(render: Render) -> None:
    """PostgreSQL: DSN from the named Secret and key, no claim or chart Secret, three replicas
    rolled without downtime, a disruption budget, IRSA annotation, pinned digest."""
    objects = _glue(render, "postgresql")
    env = env_of(_registry(objects))
    assert env[f"{PREFIX}DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "kubeai-registry-db",
        "key": "dsn",
    }
    assert not by_kind(objects, "PersistentVolumeClaim")
    assert not by_kind(objects, "Secret")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "data" not in _volumes(objects)
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    account = one(objects, "ServiceAccount")
    assert "eks.amazonaws.com/role-arn" in account["metadata"]["annotations"]
    assert account["automountServiceAccountToken"] is True, "TokenReview needs its token"
    assert _registry(objects)["image"].endswith(
        ":4b49ade0fde126ad59addc70c6c7f54ede2593b7@sha256:"
        "3f1c0f3c2b1a4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d"
    )
    monitor = one(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_postgresql_dsn_value_goes_into_a_chart_secret(render: Render) -> None:
    """A DSN given as a value lands in a Secret of the chart that the registry reads; it never
    appears in the Deployment."""
    objects = _glue(render, "postgresql-chart-secret")
    secret = one(objects, "Secret")
    dsn = base64.b64decode(secret["data"]["database-url"]).decode()
    assert dsn.startswith("postgresql+psycopg://kubeai:")
    env = env_of(_registry(objects))
    assert env[f"{PREFIX}DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "database-url",
    }
    assert "change-me" not in str(one(objects, "Deployment"))
    assert not by_kind(objects, "PodDisruptionBudget"), "disabled in this scenario"


def test_every_artifact_backend_is_wired(render: Render) -> None:
    """S3 (MinIO, path style), OSS and GCS settings and keys reach the registry; the shared
    model claim and the GCS key are mounted read-only where the settings point."""
    objects = _glue(render, "object-stores")
    env = env_of(_registry(objects))
    assert env[f"{PREFIX}ARTIFACTS__ALLOWED_SCHEMES"]["value"] == '["s3","oss","gs","file"]'
    assert env[f"{PREFIX}ARTIFACTS__LOCAL_ROOT"]["value"] == "/mnt/models"
    assert env[f"{PREFIX}ARTIFACTS__S3__ENDPOINT_URL"]["value"] == "http://minio.storage.svc:9000"
    assert env[f"{PREFIX}ARTIFACTS__S3__ADDRESSING_STYLE"]["value"] == "path"
    assert env[f"{PREFIX}ARTIFACTS__S3__ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "minio-credentials",
        "key": "accesskey",
    }
    assert env[f"{PREFIX}ARTIFACTS__OSS__SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "oss-credentials",
        "key": "secret-access-key",
    }
    assert env[f"{PREFIX}ARTIFACTS__OSS__REGION"]["value"] == "cn-hangzhou"
    token = env[f"{PREFIX}ARTIFACTS__GCS__TOKEN"]["value"]
    mounts = {m["name"]: m for m in _registry(objects)["volumeMounts"]}
    assert token == f"{mounts['gcs-key']['mountPath']}/key.json"
    assert mounts["gcs-key"]["readOnly"] is True
    assert mounts["artifacts"] == {
        "name": "artifacts",
        "mountPath": "/mnt/models",
        "readOnly": True,
    }
    volumes = _volumes(objects)
    assert volumes["artifacts"]["persistentVolumeClaim"] == {
        "claimName": "shared-models",
        "readOnly": True,
    }
    assert volumes["gcs-key"]["secret"]["secretName"] == "gcs-key"
    assert pod_spec(objects)["imagePullSecrets"] == [{"name": "example-registry"}]


def test_existing_claim_and_service_account(render: Render) -> None:
    """An existing claim is used as is (no claim created); an existing ServiceAccount is used
    (none created); scheduling values reach the pod."""
    objects = _glue(render, "sqlite-existing-claim")
    assert not by_kind(objects, "PersistentVolumeClaim")
    assert not by_kind(objects, "ServiceAccount")
    spec = pod_spec(objects)
    assert spec["serviceAccountName"] == "kubeai-registry"
    assert _volumes(objects)["data"]["persistentVolumeClaim"]["claimName"] == (
        "kubeai-registry-data"
    )
    assert spec["nodeSelector"] == {"node-role.kubernetes.io/system": "true"}
    assert spec["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    assert one(objects, "Service")["spec"]["type"] == "NodePort"
    assert env_of(_registry(objects))["TZ"]["value"] == "UTC"


def test_ephemeral_database_uses_an_empty_dir(render: Render) -> None:
    """persistence.enabled=false keeps SQLite in an emptyDir and creates no claim."""
    objects = _glue(render, "ephemeral")
    assert not by_kind(objects, "PersistentVolumeClaim")
    assert "emptyDir" in _volumes(objects)["data"]
    assert "--log-level=DEBUG" in _registry(objects)["args"]


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_registry_may_only_review_tokens(render: Render, chart: str, values: Path) -> None:
    """The registry's only Kubernetes API permission is TokenReview: with
    ``registry.auth.kubernetes.enabled`` one ClusterRoleBinding of its ServiceAccount (of the
    release namespace) to the bootstrap ClusterRole ``system:auth-delegator``, and the pod
    mounts the account's token; without it, no binding and no token. No Role or ClusterRole is
    ever rendered."""
    objects = component(render(chart, values), REGISTRY)
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"Role", "ClusterRole", "RoleBinding"}
    spec = pod_spec(objects)
    enabled = env_of(_registry(objects))[f"{PREFIX}AUTH__KUBERNETES__ENABLED"]["value"] == "true"
    bindings = by_kind(objects, "ClusterRoleBinding")
    assert spec["automountServiceAccountToken"] is enabled
    if not enabled:
        assert not bindings
        return
    (binding,) = bindings
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:auth-delegator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": NAMESPACE}
    ]
    assert NAMESPACE in binding["metadata"]["name"], "one binding per release namespace"
    for account in by_kind(objects, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is True


def test_default_auth_is_token_review(render: Render) -> None:
    """By default the registry checks ServiceAccount tokens for the ``kubeai-registry``
    audience (what the triton-inference chart's agents request) and nothing else; ServiceAccounts
    are writers in their namespace's team, the pipeline's ``kubeai-workflow`` a promoter;
    nothing is bound by name; /metrics and docs open."""
    env = literal_env(_registry(_glue(render, "default")))
    auth = {k.removeprefix(f"{PREFIX}AUTH__"): v for k, v in env.items() if "AUTH__" in k}
    assert auth == {
        "KUBERNETES__ENABLED": "true",
        "KUBERNETES__AUDIENCES": '["kubeai-registry"]',
        "KUBERNETES__CACHE_SECONDS": "10",
        "ADMINS": '{"groups":[],"users":[]}',
        "BINDINGS": "[]",
        "SERVICE_ACCOUNT_ROLE": "writer",
        "SERVICE_ACCOUNT_ROLES": '{"kubeai-workflow":"promoter"}',  # the pipeline's steps
        "CONTROLLERS": f'["{NAMESPACE}/svc-kubeai-glue-controller"]',  # the chart's controller
        "PROTECT_METRICS": "false",
        "PROTECT_DOCS": "false",
    }


def test_every_auth_value_reaches_the_registry(
    render: Render, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The ``auth`` scenario: OIDC (claims, prefixes, the issuer CA from a ConfigMap mounted
    read-only), static tokens from a Secret mounted read-only, admins, bindings, controllers
    and the protections arrive in the registry's settings as given."""
    objects = _glue(render, "auth")
    registry = _registry(objects)
    env = literal_env(registry)
    mounts = {m["name"]: m for m in registry["volumeMounts"]}
    volumes = _volumes(objects)
    assert mounts["static-tokens"]["readOnly"] is True
    assert volumes["static-tokens"]["secret"]["secretName"] == "registry-tokens"
    assert volumes["static-tokens"]["secret"]["items"] == [
        {"key": "tokens.csv", "path": "tokens.csv"}
    ]
    tokens_file = env[f"{PREFIX}AUTH__STATIC_TOKENS_FILE"]
    assert tokens_file == f"{mounts['static-tokens']['mountPath']}/tokens.csv"
    assert mounts["oidc-ca"]["readOnly"] is True
    assert volumes["oidc-ca"]["configMap"]["name"] == "corporate-ca"
    ca_file = env[f"{PREFIX}AUTH__OIDC__CA_FILE"]
    assert ca_file == f"{mounts['oidc-ca']['mountPath']}/bundle.pem"
    local_tokens = tmp_path / "tokens.csv"
    local_tokens.write_text(f'{"s3cret" * 8},prometheus,1,"monitoring"\n')
    env[f"{PREFIX}AUTH__STATIC_TOKENS_FILE"] = str(local_tokens)
    auth = settings_from_env(RegistrySettings, PREFIX, env, monkeypatch).auth
    assert auth.kubernetes.enabled and auth.kubernetes.cache_seconds == 30
    assert auth.kubernetes.audiences == ["kubeai-registry", "kubeai-registry-canary"]
    assert auth.oidc.issuer == "https://login.example.com/realms/kubeai"
    assert (auth.oidc.audience, auth.oidc.username_claim, auth.oidc.groups_claim) == (
        "kubeai",
        "email",
        "roles",
    )
    assert auth.oidc.username_prefix == auth.oidc.groups_prefix == "sso:"
    assert str(auth.oidc.ca_file) == ca_file
    assert auth.admins.users == ["sso:alice@example.com"]
    assert auth.admins.groups == ["sso:platform-admins"]
    assert [(b.team, b.role, b.users, b.groups) for b in auth.bindings] == [
        ("vision", "promoter", [], ["sso:vision-leads"]),
        ("vision", "writer", ["sso:bob@example.com"], ["sso:vision"]),
        ("*", "reader", [], ["sso:auditors"]),
    ]
    assert auth.controllers == [
        "kubeai-system/kubeai-controller",
        f"{NAMESPACE}/svc-kubeai-glue-controller",
    ]
    assert auth.service_account_roles == {"kubeai-workflow": "none", "trainer": "agent"}
    assert auth.protect_metrics and auth.protect_docs


def test_protected_metrics_are_scraped_with_a_bearer_token(render: Render) -> None:
    """With ``protectMetrics`` the ServiceMonitor sends the token of
    ``serviceMonitor.bearerTokenSecret``; without it, no credentials."""
    (endpoint,) = one(_glue(render, "auth"), "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "registry-prometheus-token", "key": "token"},
    }
    (endpoint,) = one(_glue(render, "postgresql"), "ServiceMonitor")["spec"]["endpoints"]
    assert "authorization" not in endpoint


def test_oidc_only_mounts_no_service_account_token(render: Render) -> None:
    """Without TokenReview: no binding, no token on the pod or the account, no Kubernetes
    settings beyond ``enabled: false``."""
    objects = _glue(render, "oidc-only")
    assert not by_kind(objects, "ClusterRoleBinding")
    assert one(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    env = literal_env(_registry(objects))
    assert env[f"{PREFIX}AUTH__KUBERNETES__ENABLED"] == "false"
    assert f"{PREFIX}AUTH__KUBERNETES__AUDIENCES" not in env
    assert env[f"{PREFIX}AUTH__OIDC__ISSUER"] == "https://accounts.example.com"
    assert env[f"{PREFIX}AUTH__OIDC__USERNAME_PREFIX"] == "oidc:"
    assert f"{PREFIX}AUTH__OIDC__CA_FILE" not in env


def test_probe_and_metrics_paths_are_registry_routes(render: Render, tmp_path: Path) -> None:
    """The paths the probes and the ServiceMonitor use are routes of the registry app."""
    objects = _glue(render, "postgresql")
    registry = _registry(objects)
    paths = {
        registry[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    paths |= {e["path"] for e in one(objects, "ServiceMonitor")["spec"]["endpoints"]}
    app = create_app(
        RegistrySettings(database_url=f"sqlite:///{tmp_path}/registry.db", migrate_on_start=False)
    )
    with TestClient(app) as client:  # routers are mounted, so ask the app rather than list it
        missing = sorted(path for path in paths if client.get(path).status_code == 404)
    assert not missing, f"not served by the registry: {missing}"


def test_component_names_keep_their_suffix_with_a_63_character_prefix(
    helm_tools: HelmTools,
) -> None:
    """A 63-character fullnameOverride is cut so "-registry" and "-controller" still fit in 63
    characters (every object of the chart)."""
    objects = helm_tools.template(
        chart_path(CHART),
        values=[CI / "default-values.yaml"],
        set_values=["fullnameOverride=" + "x" * 63],
    )
    cluster_kinds = {"ClusterRoleBinding", "ClusterRole"}
    names = {o["metadata"]["name"] for o in objects if o["kind"] not in cluster_kinds}
    assert names == {"x" * 63, "x" * 54 + "-registry", "x" * 52 + "-controller"}
    cluster_names = [o["metadata"]["name"] for o in objects if o["kind"] in cluster_kinds]
    assert len(cluster_names) == 3 and all(len(n) <= 63 for n in cluster_names)


# ---------------------------------------------------------------------------------------------
# the registry's NetworkPolicy (enforced only by a CNI; tests/cluster/test_network_policy.py
# checks on a real API server which pods and namespaces it selects)


def _policy(objects: Objects) -> dict:
    return one(objects, "NetworkPolicy")


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_network_policy_selects_the_registry_pods_on_their_port(
    render: Render, chart: str, values: Path
) -> None:
    """The policy selects exactly the registry's pods (its selector is the Deployment's) and
    admits traffic only to the container port the Service targets, by name."""
    objects = component(render(chart, values), REGISTRY)
    spec = _policy(objects)["spec"]
    deployment = one(objects, "Deployment")
    assert spec["podSelector"] == deployment["spec"]["selector"]
    assert spec["policyTypes"] == ["Ingress"]
    port = _registry(objects)["ports"][0]["name"]
    for rule in spec["ingress"]:
        assert rule["from"], "a rule without peers admits every source"
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]


def test_network_policy_default_admits_the_namespace_and_team_namespaces(render: Render) -> None:
    """By default: the release's own namespace and every namespace with the team label key."""
    (rule,) = _policy(_glue(render, "default"))["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {}},
        {
            "namespaceSelector": {
                "matchExpressions": [{"key": "kubeai.dev/team", "operator": "Exists"}]
            }
        },
    ]


def test_network_policy_restricted_by_namespaces_and_cidrs(render: Render) -> None:
    """Named namespaces (sorted) and CIDRs join the admitted sources."""
    (rule,) = _policy(_glue(render, "network-policy"))["spec"]["ingress"]
    assert {
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": ["ingress-nginx", "monitoring"],
                }
            ]
        }
    } in rule["from"]
    assert [p["ipBlock"]["cidr"] for p in rule["from"] if "ipBlock" in p] == [
        "10.20.0.0/16",
        "fd00:10::/64",
    ]


def test_network_policy_without_sources_admits_nothing(helm_tools: HelmTools) -> None:
    """With every source turned off the policy has no ingress rule (refuse all), never a rule
    without peers (which would admit everyone); disabled, there is no policy."""
    sets = (
        "networkPolicy.allowSameNamespace=false",
        "networkPolicy.namespaceLabelKeys=null",
        "controller.enabled=false",
    )
    objects = helm_tools.template(
        chart_path(CHART), values=[CI / "default-values.yaml"], set_values=sets
    )
    spec = _policy(objects)["spec"]
    assert "ingress" not in spec and spec["policyTypes"] == ["Ingress"]
    objects = helm_tools.template(
        chart_path(CHART),
        values=[CI / "default-values.yaml"],
        set_values=("networkPolicy.enabled=false",),
    )
    assert by_kind(objects, "NetworkPolicy") == []


_ROOT = "controller: {artifactRoot: s3://kubeai-artifacts}\n"


@pytest.mark.parametrize(
    ("values", "prefixes"),
    [
        ("", None),  # no artifactRoot: no scoping
        (_ROOT.replace("}", "/}"), '["s3://kubeai-artifacts/teams/{team}/"]'),
        (
            _ROOT
            + "registry: {artifactTeamPrefixes: ['s3://a/t/{team}/', '{local_root}/t/{team}']}\n",
            '["s3://a/t/{team}/","{local_root}/t/{team}"]',
        ),
        (_ROOT + "registry: {artifactTeamPrefixes: []}\n", None),
    ],
)
def test_team_artifact_prefixes_follow_the_controllers_root(
    render: Render, tmp_path: Path, values: str, prefixes: str | None
) -> None:
    """The registry scopes each team's artifact URIs to the part of the artifact root the
    controller writes the team's job outputs to, unless told otherwise."""
    file = tmp_path / "values.yaml"
    image = (CI / "default-values.yaml").read_text()
    file.write_text(image + values)
    env = env_of(_registry(component(render(CHART, file), REGISTRY)))
    found = env.get(f"{PREFIX}ARTIFACT_TEAM_PREFIXES")
    assert (found["value"] if found else None) == prefixes
    if prefixes:
        RegistrySettings(artifact_team_prefixes=json.loads(prefixes))  # the registry takes it
