"""infra/addons/model_registry.py: the kubeai-glue release: image, database, artifact store,
secrets."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from infra.addons import REPO_ROOT
from infra.addons.artifact_store import checksum
from infra.addons.model_registry import (
    DATABASE_SECRET,
    FULLNAME,
    NAMESPACE,
    ModelRegistryArgs,
    glue_values,
)
from infra.config import ArtifactStore, ConfigError, GlueServices, platform_outputs
from infra.mocks import is_secret, record_stack, reveal
from tests.infra import factories

SCHEMA = REPO_ROOT / "charts" / "kubeai-glue" / "values.schema.json"
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"


def glue(**overrides: object) -> GlueServices:
    return GlueServices.model_validate(
        {"image": {"repository": "ghcr.io/acme/kubeai-glue", "tag": "0.1.0"}, **overrides}
    )


def test_registry_service_matches_the_exported_url() -> None:
    config = factories.platform_config("eks")
    url = platform_outputs(config, glue_namespace=NAMESPACE).registry_url
    assert url == f"http://{FULLNAME}-registry.{NAMESPACE}.svc:8080"
    assert glue_values(config.glue, factories.store("eks"))["fullnameOverride"] == FULLNAME


def test_sqlite_default_on_a_pvc() -> None:
    values = glue_values(glue(storageSize="20Gi", storageClass="gp3"), factories.store("eks"))
    assert values["database"] == {"type": "sqlite"}
    assert values["persistence"] == {"enabled": True, "size": "20Gi", "storageClassName": "gp3"}
    assert values["image"] == {"repository": "ghcr.io/acme/kubeai-glue", "tag": "0.1.0"}


def test_postgresql_reads_the_dsn_from_a_secret() -> None:
    values = glue_values(
        glue(database="postgresql", replicas=2), factories.store("eks"), database_secret="db"
    )
    assert values["database"] == {
        "type": "postgresql",
        "postgresql": {"existingSecret": "db", "secretKey": "database-url"},
    }
    assert values["persistence"]["enabled"] is False
    default = glue_values(glue(database="postgresql"), factories.store("eks"))
    assert default["database"]["postgresql"]["existingSecret"] == DATABASE_SECRET


@pytest.mark.skipif(not SCHEMA.exists(), reason="charts/kubeai-glue has no values.schema.json")
@pytest.mark.parametrize("provider", ["existing", "eks", "gke", "ack"])
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_values_match_the_chart_schema(provider: str, database: str) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    values = glue_values(
        glue(database=database),
        factories.store(provider),
        database_secret=DATABASE_SECRET,
        artifact_secret="kubeai-artifact-store" if provider != "gke" else None,
    )
    assert [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(values)] == []


def test_release_with_postgres_and_static_keys(platform_run) -> None:
    run = platform_run(
        "eks",
        secrets={
            "postgresDsn": "postgresql+psycopg://u:p@db:5432/kubeai",
            "artifactStoreAccessKeyId": "id",
            "artifactStoreSecretAccessKey": "key",
        },
        glue={"database": "postgresql", "replicas": 2},
    )
    database = run.one(SECRET, "glue-database")
    assert database.inputs["metadata"] == {"name": DATABASE_SECRET, "namespace": NAMESPACE}
    assert is_secret(database.inputs["stringData"])
    assert reveal(database.inputs["stringData"]) == {
        "database-url": "postgresql+psycopg://u:p@db:5432/kubeai"
    }
    keys = run.one(SECRET, "glue-artifact-store")
    assert is_secret(keys.inputs["stringData"])
    assert reveal(keys.inputs["stringData"]) == {"access-key-id": "id", "secret-access-key": "key"}
    release = run.one(RELEASE, "glue-release")
    assert release.inputs["chart"] == "charts/kubeai-glue"
    assert release.inputs["namespace"] == NAMESPACE
    values = release.inputs["values"]
    assert values["database"]["postgresql"]["existingSecret"] == DATABASE_SECRET
    assert values["artifacts"]["s3"]["existingSecret"] == "kubeai-artifact-store"
    assert run.waits_for(release.key, [database.key, keys.key])


def test_postgres_without_dsn_is_a_config_error() -> None:
    config = factories.platform_config("eks", glue={"database": "postgresql", "replicas": 2})
    with pytest.raises(ConfigError, match="kubeai:postgresDsn"):
        record_stack(config)


def test_args_validate() -> None:
    with pytest.raises(ValueError, match="glue namespace"):
        ModelRegistryArgs(
            glue=glue(), artifact_store=factories.store("eks"), namespace="Not_A_Label"
        ).validate()
    with pytest.raises(ValidationError, match="kind"):
        ArtifactStore.model_validate({"kind": "azure", "bucket": "b"})


def test_network_policy_values_from_the_platform_network(platform_run) -> None:
    """The registry admits its namespace, team-labelled namespaces, the ingress and monitoring
    namespaces and the ingress CIDRs of ``kubeai:network``; the values pass the chart schema."""
    network = {
        "ingressNamespaces": ["ingress-nginx", "gateways"],
        "ingressCidrs": ["10.20.0.0/16"],
        "monitoringNamespace": "prometheus",
    }
    run = platform_run("eks", network=network, teamLabel="acme.io/team")
    values = run.one(RELEASE, "glue-release").inputs["values"]
    assert values["networkPolicy"] == {
        "enabled": True,
        "allowSameNamespace": True,
        "namespaceLabelKeys": ["acme.io/team"],
        "namespaces": ["gateways", "ingress-nginx", "prometheus"],
        "cidrs": ["10.20.0.0/16"],
    }
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [e.message for e in validator.iter_errors(values)] == []


def test_network_policy_defaults() -> None:
    """Without ``kubeai:network``: the platform's own and team namespaces plus ``monitoring``."""
    values = glue_values(glue(), factories.store("eks"))["networkPolicy"]
    assert values["namespaceLabelKeys"] == ["kubeai.dev/team"]
    assert values["namespaces"] == ["monitoring"] and values["cidrs"] == []


def test_identity_and_pull_secrets_reach_the_chart() -> None:
    role = "arn:aws:iam::123456789012:role/kubeai-registry"
    values = glue_values(
        glue(
            serviceAccount={
                "workloadIdentity": {"awsRoleArn": role},
                "annotations": {"example.com/team": "ml-platform"},
            },
            imagePullSecrets=["ghcr-pull", "mirror-pull"],
        ),
        factories.store("eks"),
        checksums={"artifact-store": checksum({"k": "v"})},
    )
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [e.message for e in validator.iter_errors(values)] == []
    assert values["serviceAccount"] == {
        "annotations": {"eks.amazonaws.com/role-arn": role, "example.com/team": "ml-platform"}
    }
    assert values["imagePullSecrets"] == [{"name": "ghcr-pull"}, {"name": "mirror-pull"}]
    assert "existingSecret" not in values["artifacts"]["s3"]  # keyless: the SDK's chain


def test_secret_checksums_roll_the_registry(platform_run) -> None:
    def checksums(dsn: str, key: str) -> dict[str, str]:
        run = platform_run(
            "eks",
            secrets={
                "postgresDsn": dsn,
                "artifactStoreAccessKeyId": "id",
                "artifactStoreSecretAccessKey": key,
            },
            glue={"database": "postgresql", "replicas": 2},
        )
        values = run.one(RELEASE, "glue-release").inputs["values"]
        assert not is_secret(values["checksums"]["artifact-store"])
        return reveal(values["checksums"])

    first = checksums("postgresql+psycopg://u:p@db:5432/kubeai", "key")
    assert set(first) == {"database", "artifact-store"}
    assert first == checksums("postgresql+psycopg://u:p@db:5432/kubeai", "key")
    rotated = checksums("postgresql+psycopg://u:p2@db:5432/kubeai", "key2")
    assert rotated["database"] != first["database"]
    assert rotated["artifact-store"] != first["artifact-store"]
    assert (
        checksum({"database-url": "postgresql+psycopg://u:p@db:5432/kubeai"}) == (first["database"])
    )


# ---------------------------------------------------------------------------------------------
# registry.auth from kubeai:glue.auth


CHART_VALUES = REPO_ROOT / "charts" / "kubeai-glue" / "values.yaml"


def test_default_auth_values_are_the_charts_defaults() -> None:
    """Without ``kubeai:glue.auth`` the stack passes exactly the chart's own ``registry.auth``
    defaults (TokenReview for ``kubeai-registry``): the two cannot drift apart."""
    chart = yaml.safe_load(CHART_VALUES.read_text())["registry"]["auth"]
    values = glue_values(glue(), factories.store("eks"))
    assert values["registry"]["auth"] == chart


def test_configured_auth_reaches_the_chart_values() -> None:
    """Every key of ``kubeai:glue.auth`` lands under the chart's ``registry.auth`` (the same
    camelCase names) and the result satisfies the chart's schema."""
    auth = {
        "kubernetes": {"audiences": ["kubeai-registry", "other"], "cacheSeconds": 20},
        "oidc": {
            "issuer": "https://login.example.com",
            "groupsClaim": "roles",
            "caConfigMap": "corporate-ca",
        },
        "staticTokens": {"existingSecret": "registry-tokens"},
        "admins": {"users": ["oidc:alice"]},
        "bindings": [
            {"team": "vision", "role": "promoter", "groups": ["oidc:vision-leads"]},
            {"team": "*", "role": "reader", "users": ["oidc:auditor"]},
        ],
        "serviceAccountRole": "agent",
        "serviceAccountRoles": {"kubeai-workflow": "none"},
        "controllers": ["kubeai-system/kubeai-controller"],
        "protectMetrics": True,
        "protectDocs": True,
    }
    values = glue_values(glue(auth=auth), factories.store("eks"))
    got = values["registry"]["auth"]
    assert got["kubernetes"] == {
        "enabled": True,
        "audiences": ["kubeai-registry", "other"],
        "cacheSeconds": 20.0,
    }
    assert got["oidc"]["issuer"] == "https://login.example.com"
    assert got["oidc"]["groupsClaim"] == "roles" and got["oidc"]["caConfigMap"] == "corporate-ca"
    assert got["oidc"]["usernamePrefix"] == "oidc:"
    assert got["staticTokens"] == {"existingSecret": "registry-tokens", "key": "tokens.csv"}
    assert got["admins"] == {"users": ["oidc:alice"], "groups": []}
    assert got["bindings"] == [
        {"team": "vision", "role": "promoter", "users": [], "groups": ["oidc:vision-leads"]},
        {"team": "*", "role": "reader", "users": ["oidc:auditor"], "groups": []},
    ]
    assert got["serviceAccountRole"] == "agent"
    assert got["serviceAccountRoles"] == {"kubeai-workflow": "none"}
    assert got["controllers"] == ["kubeai-system/kubeai-controller"]
    assert got["protectMetrics"] is True and got["protectDocs"] is True
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(values)] == []


def test_a_glue_block_without_an_authenticator_is_refused() -> None:
    """``GlueServices`` itself refuses an auth block with no authenticator."""
    with pytest.raises(ValidationError, match="no authenticator"):
        glue(auth={"kubernetes": {"enabled": False}})


# ---------------------------------------------------------------------------------------------
# controller from kubeai:glue.controller


def _schema_errors(values: dict[str, object]) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(values)]


def test_controller_runs_by_default_with_the_platform_settings(platform_run) -> None:
    """The platform's release runs the controller: two replicas, the platform's team label, the
    chart's default resources, the platform bucket as artifact root, metrics open to the
    monitoring namespace; the values pass the chart schema."""
    run = platform_run("eks", teamLabel="acme.io/team", network={"monitoringNamespace": "prom"})
    values = run.one(RELEASE, "glue-release").inputs["values"]
    chart = yaml.safe_load(CHART_VALUES.read_text())["controller"]
    controller = values["controller"]
    assert controller["enabled"] is True
    assert controller["replicas"] == chart["replicas"] == 2
    assert controller["teamLabel"] == "acme.io/team"
    assert controller["resources"] == chart["resources"]
    assert controller["podAntiAffinity"] == chart["podAntiAffinity"]
    assert controller["logLevel"] == chart["logLevel"]
    store = factories.store("eks")
    assert controller["artifactRoot"] == f"s3://{store.bucket}"
    assert controller["networkPolicy"] == {"metricsNamespaces": ["prom"]}
    assert _schema_errors(values) == []


def test_configured_controller_reaches_the_chart_values() -> None:
    """Every key of ``kubeai:glue.controller`` lands in the chart's ``controller`` values; the
    registry's cloud identity is put on the controller's account and pods too."""
    config = {
        "replicas": 3,
        "resources": {
            "requests": {"cpu": "200m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "podAntiAffinity": "hard",
        "logLevel": "DEBUG",
        "artifactRoot": "gs://acme-models/training",
    }
    account = {"workloadIdentity": {"alicloudRoleName": "kubeai-registry"}}
    values = glue_values(
        glue(controller=config, serviceAccount=account), factories.store("ack"), team_label="t/x"
    )
    controller = values["controller"]
    assert controller["replicas"] == 3
    assert controller["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert (controller["podAntiAffinity"], controller["logLevel"]) == ("hard", "DEBUG")
    assert controller["artifactRoot"] == "gs://acme-models/training"
    assert controller["teamLabel"] == "t/x"
    assert controller["serviceAccount"] == values["serviceAccount"]
    assert controller["podLabels"] == values["registry"]["podLabels"]
    assert _schema_errors(values) == []


@pytest.mark.parametrize(
    ("provider", "scheme"), [("gke", "gs"), ("ack", "oss"), ("existing", "s3")]
)
def test_controller_artifact_root_follows_the_store(provider: str, scheme: str) -> None:
    """Without ``artifactRoot`` the controller's output convention is under the platform
    bucket, with the scheme of the store's kind (MinIO speaks S3)."""
    store = factories.store(provider)
    root = glue_values(glue(), store)["controller"]["artifactRoot"]
    assert root == f"{scheme}://{store.bucket}"


def test_controller_off() -> None:
    """``enabled: false`` passes only that; the chart then renders no controller."""
    values = glue_values(glue(controller={"enabled": False}), factories.store("eks"))
    assert values["controller"] == {"enabled": False}
    assert _schema_errors(values) == []
