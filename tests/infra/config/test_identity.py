"""infra/config/identity.py: typed cloud identities of ServiceAccounts, checked per provider."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.addons.model_registry import glue_values
from infra.addons.triton import TritonDefaults, inference_service_values
from infra.config import ConfigError, ServiceAccountConfig, WorkloadIdentity
from infra.config.identity import (
    GKE_ANNOTATION,
    IRSA_ANNOTATION,
    RRSA_ANNOTATION,
    RRSA_INJECTION_LABEL,
)
from tests.infra import factories

ROLE = "arn:aws:iam::123456789012:role/kubeai-registry"
GSA = "kubeai-registry@kubeai-prod-1.iam.gserviceaccount.com"
IDENTITIES = {
    "eks": {"awsRoleArn": ROLE},
    "gke": {"gcpServiceAccount": GSA},
    "ack": {"alicloudRoleName": "kubeai-training"},
}


def identity(**values: str) -> WorkloadIdentity:
    return WorkloadIdentity.model_validate(values)


def test_each_kind_renders_its_clouds_annotation() -> None:
    assert identity(awsRoleArn=ROLE).annotations() == {IRSA_ANNOTATION: ROLE}
    assert identity(gcpServiceAccount=GSA).annotations() == {GKE_ANNOTATION: GSA}
    rrsa = identity(alicloudRoleName="kubeai-training")
    assert rrsa.annotations() == {RRSA_ANNOTATION: "kubeai-training"}
    assert rrsa.pod_labels() == {RRSA_INJECTION_LABEL: "on"}
    assert identity(awsRoleArn=ROLE).pod_labels() == {}
    assert [identity(**v).provider for v in IDENTITIES.values()] == list(IDENTITIES)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "exactly one"),
        ({"awsRoleArn": ROLE, "gcpServiceAccount": GSA}, "exactly one"),
        ({"awsRoleArn": "arn:aws:iam::12:role/x"}, "awsRoleArn"),
        ({"gcpServiceAccount": "registry@example.com"}, "gcpServiceAccount"),
        ({"alicloudRoleName": "has space"}, "alicloudRoleName"),
    ],
)
def test_bad_identities_are_refused(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkloadIdentity.model_validate(values)


def test_annotations_merge_and_may_not_repeat_the_identity() -> None:
    account = ServiceAccountConfig.model_validate(
        {"workloadIdentity": {"awsRoleArn": ROLE}, "annotations": {"example.com/owner": "ml"}}
    )
    assert account.all_annotations() == {IRSA_ANNOTATION: ROLE, "example.com/owner": "ml"}
    with pytest.raises(ValidationError, match="give it once"):
        ServiceAccountConfig.model_validate(
            {"workloadIdentity": {"awsRoleArn": ROLE}, "annotations": {IRSA_ANNOTATION: ROLE}}
        )


@pytest.mark.parametrize("provider", ["eks", "gke"])
def test_glue_identity_of_the_clusters_provider_is_accepted(provider: str) -> None:
    config = factories.platform_config(
        provider, glue={"serviceAccount": {"workloadIdentity": IDENTITIES[provider]}}
    )
    assert (
        config.glue.service_account.all_annotations()
        == identity(**IDENTITIES[provider]).annotations()
    )


@pytest.mark.parametrize(
    ("provider", "kind"),
    [("eks", "gke"), ("gke", "eks"), ("ack", "eks"), ("existing", "eks")],
)
def test_glue_identity_of_another_provider_is_refused(provider: str, kind: str) -> None:
    values = factories.platform_values(
        provider, glue={"serviceAccount": {"workloadIdentity": IDENTITIES[kind]}}
    )
    [(path, message)] = factories.config_problems(values)
    key = next(iter(IDENTITIES[kind]))
    assert path == f"kubeai:glue.serviceAccount.workloadIdentity.{key}"
    assert f"identity of {kind} clusters" in message and repr(provider) in message
    if provider == "existing":
        assert "glue.serviceAccount.annotations" in message


def test_glue_rrsa_reaches_the_registry_pods_on_ack() -> None:
    """The registry may use RRSA (glue.artifacts.rrsa exchanges the token): the config is
    accepted and the chart gets the role annotation and the webhook's injection label."""
    config = factories.platform_config(
        "ack", glue={"serviceAccount": {"workloadIdentity": IDENTITIES["ack"]}}
    )
    values = glue_values(config.glue, config.artifact_store)
    assert values["serviceAccount"]["annotations"] == {RRSA_ANNOTATION: "kubeai-training"}
    assert values["registry"]["podLabels"] == {RRSA_INJECTION_LABEL: "on"}
    assert "existingSecret" not in values["artifacts"]["oss"]


def test_team_identities_are_checked_against_the_platforms_provider() -> None:
    eks = factories.outputs_of(factories.platform_config("eks"))
    team = factories.team_config(
        serviceAccounts={
            "training": {"workloadIdentity": IDENTITIES["eks"]},
            "serving": {"workloadIdentity": IDENTITIES["eks"]},
        }
    )
    team.check_against_platform(eks)
    gke = factories.outputs_of(factories.platform_config("gke"))
    with pytest.raises(ConfigError) as caught:
        team.check_against_platform(gke)
    paths = [path for path, _ in caught.value.problems]
    assert paths == [
        "kubeai:serviceAccounts.training.workloadIdentity.awsRoleArn",
        "kubeai:serviceAccounts.serving.workloadIdentity.awsRoleArn",
    ]


def test_team_rrsa_is_refused_only_for_the_workflow_pods() -> None:
    """Training and serving agents may use RRSA; Argo's S3 artifact driver (minio-go) cannot."""
    ack = factories.outputs_of(factories.platform_config("ack"))
    service = factories.team_values()["inferenceServices"][1]
    accepted = factories.team_config(
        serviceAccounts={
            "training": {"workloadIdentity": IDENTITIES["ack"]},
            "serving": {"workloadIdentity": IDENTITIES["ack"]},
        },
        inferenceServices=[
            {**service, "serviceAccount": {"workloadIdentity": IDENTITIES["ack"]}},
        ],
    )
    accepted.check_against_platform(ack)
    service_config = accepted.inference_services[0]
    values = inference_service_values(
        service_config,
        TritonDefaults.from_platform(ack, pull_secret=None),
        service_account=accepted.serving_account(service_config),
    )
    assert values["serviceAccount"]["annotations"] == {RRSA_ANNOTATION: "kubeai-training"}
    assert values["podLabels"] == {RRSA_INJECTION_LABEL: "on"}
    workflow = factories.team_config(
        serviceAccounts={"workflow": {"workloadIdentity": IDENTITIES["ack"]}}
    )
    with pytest.raises(ConfigError) as caught:
        workflow.check_against_platform(ack)
    [(path, message)] = caught.value.problems
    assert path == "kubeai:serviceAccounts.workflow.workloadIdentity.alicloudRoleName"
    assert "Argo" in message and "artifactStoreAccessKeyId" in message


def test_a_service_account_overrides_the_team_wide_serving_one() -> None:
    own = {"workloadIdentity": {"awsRoleArn": ROLE.replace("registry", "ranker")}}
    services = factories.team_values()["inferenceServices"]
    team = factories.team_config(
        serviceAccounts={"serving": {"workloadIdentity": IDENTITIES["eks"]}},
        inferenceServices=[services[0], {**services[1], "serviceAccount": own}],
    )
    resnet, ranker = team.inference_services
    assert team.serving_account(resnet).all_annotations() == {IRSA_ANNOTATION: ROLE}
    assert team.serving_account(ranker).all_annotations() == {
        IRSA_ANNOTATION: own["workloadIdentity"]["awsRoleArn"]
    }


@pytest.mark.parametrize(
    ("stack", "where", "path"),
    [
        ("team", ["serviceAccounts", "training"], "kubeai:serviceAccounts.training.annotations"),
        ("platform", ["glue", "serviceAccount"], "kubeai:glue.serviceAccount.annotations"),
        (
            "team",
            ["inferenceServices", 0, "serviceAccount"],
            "kubeai:inferenceServices[0].serviceAccount.annotations",
        ),
    ],
)
@pytest.mark.parametrize("key", ["-bad-/x", "example.com/-x", "a/b/c", "x" * 64])
def test_annotation_keys_must_be_qualified_names(
    stack: str, where: list[str | int], path: str, key: str
) -> None:
    values = factories.team_values() if stack == "team" else factories.platform_values("eks")
    parent = values
    for part in where[:-1]:
        parent = parent.setdefault(part, {}) if isinstance(part, str) else parent[part]
    parent[where[-1]] = {"annotations": {"example.com/owner": "ml", key: "y"}}
    [(problem_path, message)] = factories.config_problems(values)
    assert problem_path == path and f"{key!r} is not a qualified name" in message


def test_annotations_may_take_at_most_256_kib() -> None:
    fits = {f"example.com/k{i}": "v" * (4096 - 13 - len(str(i))) for i in range(64)}
    assert sum(len(k) + len(v) for k, v in fits.items()) == 256 * 1024
    ServiceAccountConfig.model_validate({"annotations": fits})
    with pytest.raises(ValidationError, match="more than the 262144 \\(256 KiB\\)"):
        ServiceAccountConfig.model_validate({"annotations": {**fits, "x": "y"}})
