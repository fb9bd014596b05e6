"""infra/policies/training.py: the team's training limits, the policy and its binding (pure).

What the policy refuses is shown on the real apiserver (tests/cluster/test_training_admission.py);
here: the limits computed from config and platform, the manifests' shape (validated with
kubernetes-validate like every built-in object), and the rule table.
"""

from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest
import yaml

from infra.policies.training import (
    KUBEFLOW_REPLICA_SPECS,
    LIMITS_CONFIGMAP,
    RULES,
    SCALABLE,
    VARIABLES,
    binding_spec,
    limits_literal,
    manifests,
    policy_name,
    policy_spec,
    training_limits,
)
from infra.validate import crds_dir
from tests.infra import factories

K8S_VERSION = "1.34"


def limits(provider: str = "eks", platform: dict | None = None, **team: object):
    config = factories.team_config(**team)
    outputs = factories.outputs_of(factories.platform_config(provider, **(platform or {})))
    return training_limits(config, outputs)


def test_limits_take_the_smallest_of_quota_queue_and_pools() -> None:
    got = limits()
    assert got.team == got.queue == "cv"
    assert got.pools == ("gpu", "cpu") and got.gpu_types == ("nvidia-a10g",)
    assert got.max_gpus_per_node == 2
    # quota 4 GPUs, capability 4, pools 2 x 4 nodes = 8
    assert got.max_gpus == 4
    assert (got.max_cpu, got.max_memory, got.max_pods) == ("64", "256Gi", 500)
    assert got.gpu_taint == ("nvidia.com/gpu", "present", "NoSchedule")
    # no pool declares allocatable: per-node CPU and memory are not checked
    assert got.max_cpu_per_node is None and got.max_memory_per_node is None
    data = got.data()
    assert "maxCpuPerNode" not in data and data["maxGpusPerNode"] == "2"
    assert data["pools"] == "gpu,cpu" and data["gpuTaintKey"] == "nvidia.com/gpu"


def test_limits_narrowed_by_the_queue_and_by_the_pools_capacity() -> None:
    narrow = limits(
        queue={"capability": {"cpu": "16", "memory": "64Gi", "gpus": 2}, "guarantee": None}
    )
    assert (narrow.max_gpus, narrow.max_cpu, narrow.max_memory) == (2, "16", "64Gi")
    small_pool = {
        "nodePools": [
            {
                "name": "gpu",
                "instanceType": "g5.xlarge",
                "gpuType": "nvidia-a10g",
                "gpusPerNode": 1,
                "maxSize": 1,
            }
        ]
    }
    assert limits(platform=small_pool).max_gpus == 1  # one node of one GPU


def test_per_node_limits_are_the_largest_allocatable_when_every_pool_declares_it() -> None:
    pools = factories.platform_values("eks")["nodePools"]
    pools[0]["allocatable"] = {"cpu": "7910m", "memory": "27Gi"}
    pools[1]["allocatable"] = {"cpu": "15890m", "memory": "57Gi"}
    got = limits(platform={"nodePools": pools})
    assert (got.max_cpu_per_node, got.max_memory_per_node) == ("15890m", "57Gi")


def test_untainted_gpu_pools_need_no_toleration() -> None:
    pools = factories.platform_values("eks")["nodePools"]
    pools[0]["taints"] = []
    assert limits(platform={"nodePools": pools}).gpu_taint is None
    assert "gpuTaintKey" not in limits(platform={"nodePools": pools}).data()


def test_manifests_are_valid_kubernetes_objects() -> None:
    docs = manifests(limits())
    assert [d["kind"] for d in docs] == [
        "ConfigMap",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    assert docs[0]["metadata"] == {
        "name": LIMITS_CONFIGMAP,
        "namespace": "cv",
        "labels": {"app.kubernetes.io/part-of": "kubeai"},
    }
    assert docs[1]["metadata"]["name"] == docs[2]["metadata"]["name"] == policy_name("cv")
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert docs[1]["spec"] == policy_spec(limits())


def test_binding_denies_in_the_team_namespace_only_without_params() -> None:
    """No paramRef: the apiserver resolves a binding's params before its matchConditions
    (k8s.io/apiserver v0.35.4 policy_dispatcher.go ``CollectParams``), so with a params object a
    missing ConfigMap refused even the controller's annotation patches; the limits are the
    policy's own variable instead."""
    spec = binding_spec("cv")
    assert spec["validationActions"] == ["Deny"]
    assert "paramRef" not in spec
    assert spec["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "cv"}
    }


def test_policy_matches_the_training_job_kinds_and_spares_non_spec_updates() -> None:
    spec = policy_spec(limits())
    rules = {
        (group, resource)
        for rule in spec["matchConstraints"]["resourceRules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("kubeflow.org", "pytorchjobs"),
        ("kubeflow.org", "tfjobs"),
        ("kubeflow.org", "xgboostjobs"),
        ("kubeflow.org", "mpijobs"),
        ("kubeflow.org", "pytorchjobs/scale"),
        ("batch.volcano.sh", "jobs"),
        ("batch", "jobs"),
    }
    conditions = [c["expression"] for c in spec["matchConditions"]]
    assert "object.spec != oldObject.spec" in conditions[0]
    assert "kubeai.dev/model" in conditions[1]
    assert "paramKind" not in spec
    assert spec["failurePolicy"] == "Fail"
    first = spec["variables"][0]
    assert first["name"] == "limits"
    assert json.loads(first["expression"]) == limits().data()  # a CEL map literal of strings


def test_limits_literal_escapes_like_cel() -> None:
    assert limits_literal(limits()).startswith('{"team": "cv", "queue": "cv"')


def test_scale_subresources_are_those_the_pinned_crds_declare() -> None:
    """Of the checked kinds, which serve ``/scale`` (training-operator v1.9.4: PyTorchJob)."""
    declared = set()
    for path in (crds_dir() / "training-operator" / "v1.9.4").glob("kubeflow.org_*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] not in KUBEFLOW_REPLICA_SPECS:
            continue
        for version in crd["spec"]["versions"]:
            scale = (version.get("subresources") or {}).get("scale")
            if scale:
                declared.add(crd["spec"]["names"]["plural"])
                field = scale["specReplicasPath"].lstrip(".")
                assert SCALABLE[crd["spec"]["names"]["plural"]] == field
    assert declared == set(SCALABLE)


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_every_rule_has_a_message_naming_a_field_and_a_limit(rule) -> None:
    validation = rule.validation()
    assert set(validation) == {"expression", "messageExpression", "message", "reason"}
    assert "variables." in rule.expression or "request." in rule.expression
    assert rule.message.startswith("`") and rule.message.endswith("`")
    # each CEL text has balanced parentheses and brackets (the apiserver compiles it)
    for cel in (rule.expression, rule.message_expression):
        bare = re.sub(r"'(\\'|[^'])*'|\"[^\"]*\"", "", cel)
        assert bare.count("(") == bare.count(")") and bare.count("[") == bare.count("]"), cel


def test_variables_read_only_earlier_variables() -> None:
    names = ["limits", *(name for name, _ in VARIABLES)]
    for index, (_, cel) in enumerate(VARIABLES, start=1):
        used = set(re.findall(r"variables\.(\w+)", cel))
        assert used <= set(names[:index]), (names[index], used)


def test_the_readme_lists_every_rule_with_its_message() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for rule in RULES:
        assert f"| `{rule.name}` | {rule.summary} | {rule.message} |" in readme, rule.name
