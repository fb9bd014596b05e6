"""infra/addons/autoscaling.py: what grows each cloud's pools from zero, metrics-server where the
cloud has none, the config checks against the provider."""

from __future__ import annotations

import pytest

from infra import versions
from infra.addons.autoscaling import (
    IRSA_ANNOTATION,
    NAMESPACE,
)
from tests.infra import factories

RELEASE = "kubernetes:helm.sh/v3:Release"
ACK_AUTOSCALER = "alicloud:cs/autoscalingConfig:AutoscalingConfig"
COMPONENT = "kubeai:addons:NodeAutoscaling"


def release(run, chart: str):
    found = [r for r in run.of_type(RELEASE) if r.inputs["chart"] == chart]
    return found[0] if found else None


def test_eks_runs_the_cluster_autoscaler_with_its_irsa_role(platform_run) -> None:
    run = platform_run("eks")
    autoscaler = release(run, "cluster-autoscaler")
    assert autoscaler is not None
    inputs = autoscaler.inputs
    assert inputs["namespace"] == NAMESPACE and inputs["version"] == "9.56.0"
    assert inputs["repositoryOpts"]["repo"] == versions.CLUSTER_AUTOSCALER.repository
    assert inputs["timeout"] == 600 and inputs["atomic"] is True
    values = inputs["values"]
    eks = factories.platform_config("eks").cluster.eks
    assert values["cloudProvider"] == "aws" and values["awsRegion"] == eks.region
    assert values["autoDiscovery"] == {"clusterName": eks.cluster_name}
    account = values["rbac"]["serviceAccount"]
    assert account["annotations"] == {IRSA_ANNOTATION: factories.AUTOSCALER_ROLE}
    # the image follows the cluster's Kubernetes minor (1.34 by default)
    assert values["image"] == {
        "repository": "registry.k8s.io/autoscaling/cluster-autoscaler",
        "tag": "v1.34.2",
    }
    args = values["extraArgs"]
    assert args["expander"] == "least-waste" and args["balance-similar-node-groups"] is True
    assert args["scale-down-unneeded-time"] == "10m"
    # EKS brings no metrics-server: the platform installs it
    metrics = release(run, "metrics-server")
    assert metrics is not None and metrics.inputs["version"] == "3.12.2"
    assert metrics.inputs["values"]["image"]["tag"] == "v0.7.2"


def test_autoscaling_waits_for_the_pools(platform_run) -> None:
    run = platform_run("eks")
    (component,) = run.of_type(COMPONENT)
    pools = [r.key for r in run.of_type("kubeai:node_pools:GpuNodePool")]
    assert pools and run.waits_for(component.key, pools)


def test_ack_configures_its_managed_autoscaler_to_scale_from_zero(platform_run) -> None:
    run = platform_run("ack")
    (settings,) = run.of_type(ACK_AUTOSCALER)
    cluster_id = factories.platform_config("ack").cluster.ack.cluster_id
    assert settings.inputs["clusterId"] == cluster_id
    assert settings.inputs["scaleUpFromZero"] is True
    assert settings.inputs["scalerType"] == "cluster-autoscaler"
    assert settings.provider and "pulumi:providers:alicloud::cloud::" in settings.provider
    assert release(run, "cluster-autoscaler") is None and release(run, "metrics-server") is None


@pytest.mark.parametrize("provider", ["gke", "existing"])
def test_gke_and_existing_clusters_install_nothing(platform_run, provider: str) -> None:
    run = platform_run(provider)
    assert not run.of_type(ACK_AUTOSCALER)
    assert release(run, "cluster-autoscaler") is None and release(run, "metrics-server") is None


def test_metrics_server_can_be_asked_for_and_mirrored(platform_run) -> None:
    mirror = "https://charts.mirror.example/metrics-server"
    run = platform_run(
        "existing", addons={"metricsServer": {"enabled": True, "chart": {"repository": mirror}}}
    )
    metrics = release(run, "metrics-server")
    assert metrics is not None and metrics.inputs["repositoryOpts"]["repo"] == mirror
    run = platform_run("eks", addons={"metricsServer": {"enabled": False}})
    assert release(run, "metrics-server") is None


@pytest.mark.parametrize(
    ("provider", "addon", "cluster", "path", "words"),
    [
        ("eks", {"roleArn": None}, {}, "kubeai:addons.clusterAutoscaler.roleArn", "required"),
        ("gke", {"roleArn": factories.AUTOSCALER_ROLE}, {}, "clusterAutoscaler.roleArn", "gke"),
        # quoted inputs of a trial: accepted, then never read or fatal at start
        ("gke", {"expander": "price"}, {}, "clusterAutoscaler.expander", "nothing reads it"),
        ("gke", {"enabled": False}, {}, "clusterAutoscaler.enabled", "GKE's own autoscaler"),
        ("existing", {"expander": "random"}, {}, "clusterAutoscaler.expander", "existing"),
        ("eks", {"expander": "price"}, {}, "clusterAutoscaler.expander", "Pricing()"),
        ("ack", {"enabled": False}, {}, "clusterAutoscaler.enabled", "minSize 0"),
        ("ack", {"expander": "most-pods"}, {}, "clusterAutoscaler.expander", "least-waste"),
        ("eks", {}, {"kubernetesVersion": "1.31"}, "kubeai:cluster.kubernetesVersion", "1.34"),
    ],
)
def test_autoscaler_settings_that_cannot_work_are_refused(
    provider: str, addon: dict, cluster: dict, path: str, words: str
) -> None:
    values = factories.platform_values(
        provider, addons={"clusterAutoscaler": addon}, cluster=cluster
    )
    if addon.get("roleArn", "") is None:
        values["addons"]["clusterAutoscaler"].pop("roleArn")
    problems = factories.config_problems(values)
    assert any(p.endswith(path) and words in m for p, m in problems), problems


def test_an_eks_platform_without_autoscaling_needs_pools_that_keep_a_node() -> None:
    values = factories.platform_values("eks", addons={"clusterAutoscaler": {"enabled": False}})
    values["addons"]["clusterAutoscaler"].pop("roleArn")
    problems = factories.config_problems(values)
    assert [p for p, _ in problems] == ["kubeai:addons.clusterAutoscaler.enabled"]
    assert "gpu have minSize 0" in problems[0][1]
    for pool in values["nodePools"]:
        pool["minSize"] = 1
    config = factories.parse_config(values)
    assert not config.addons.cluster_autoscaler.enabled


@pytest.mark.parametrize("provider", ["gke", "ack"])
def test_a_second_metrics_server_is_refused_where_the_cloud_runs_one(provider: str) -> None:
    values = factories.platform_values(provider, addons={"metricsServer": {"enabled": True}})
    problems = factories.config_problems(values)
    assert ("kubeai:addons.metricsServer.enabled") in [p for p, _ in problems]
