"""infra/tenancy.py: the team stack: namespace, Queue, quota, RBAC, datasets, inference services.

Every custom resource the team stack declares is validated against the upstream CRD schema
(the pinned upstream CRDs, infra.upstream) and every built-in object with kubernetes-validate
(strict, Kubernetes 1.34).
"""

from __future__ import annotations

import pytest

from infra import versions
from infra.addons.namespace_ownership import OWNER_ANNOTATION
from infra.config import RUNTIME_COMPONENTS, ConfigError, DatasetConfig
from infra.mocks import is_secret, reveal
from infra.tenancy import (
    PVC_SIZE_ANNOTATION,
    QUEUE_ANNOTATION,
    check_platform,
    dataset_manifest,
    executor_rules,
    queue_manifest,
    reference_dataset_manifest,
    role_rules,
    runtime_manifest,
)
from tests.infra import crd_schema, factories

NAMESPACE = "kubernetes:core/v1:Namespace"
QUEUE = "kubernetes:scheduling.volcano.sh/v1beta1:Queue"
RELEASE = "kubernetes:helm.sh/v3:Release"
TEAM = ("kubeai:tenancy:TeamTenancy", "team")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def test_queue_manifest_fields_and_schema() -> None:
    """Under proportion (the default) a guarantee comes with deserved = guarantee: Volcano's
    queue webhook refuses a guarantee above deserved, and proportion never reads deserved."""
    queue = queue_manifest(factories.team_config(), "kubeai.dev/team")
    assert queue["metadata"] == {"name": "cv", "labels": {"kubeai.dev/team": "cv"}}
    spec = queue["spec"]
    assert spec["weight"] == 4 and spec["reclaimable"] is True
    assert spec["capability"] == {"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": "4"}
    guarantee = {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    assert spec["guarantee"] == {"resource": guarantee}
    assert spec["deserved"] == guarantee
    assert crd_schema.errors(queue) == []
    bare = queue_manifest(factories.team_config(queue={"guarantee": None}), "kubeai.dev/team")
    assert "deserved" not in bare["spec"] and "guarantee" not in bare["spec"]


def test_queue_manifest_under_the_capacity_plugin_keeps_deserved() -> None:
    config = factories.team_config(
        queue={"weight": 1, "deserved": {"cpu": "32", "memory": "128Gi", "gpus": 2}}
    )
    spec = queue_manifest(config, "kubeai.dev/team", "capacity")["spec"]
    assert spec["deserved"] == {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "2"}
    assert spec["guarantee"] == {"resource": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}}
    assert spec["weight"] == 1


def test_check_platform_refuses_queue_keys_the_platform_plugin_never_reads() -> None:
    proportion = factories.outputs_of(factories.platform_config("eks"))
    capacity = factories.outputs_of(
        factories.platform_config("eks", addons={"volcano": {"queuePolicy": "capacity"}})
    )
    with_deserved = factories.team_config(queue={"deserved": {"gpus": 2}, "guarantee": None})
    with pytest.raises(ConfigError) as caught:
        check_platform(with_deserved, proportion)
    assert [path for path, _ in caught.value.problems] == ["kubeai:queue.deserved"]
    with pytest.raises(ConfigError) as caught:
        check_platform(with_deserved, capacity)  # weight 4
    assert [path for path, _ in caught.value.problems] == ["kubeai:queue.weight"]
    accepted = factories.team_config(
        queue={"weight": 1, "deserved": {"gpus": 2}, "guarantee": None}
    )
    check_platform(accepted, capacity)


def test_team_stack_renders_the_queue_for_its_platform_plugin() -> None:
    from infra.mocks import record_stack

    platform = factories.outputs_of(
        factories.platform_config("eks", addons={"volcano": {"queuePolicy": "capacity"}})
    )
    config = factories.team_config(queue={"weight": 1, "deserved": {"gpus": 3}, "guarantee": None})
    spec = record_stack(config, platform=platform).one(QUEUE, "team-queue").inputs["spec"]
    assert spec["deserved"] == {"nvidia.com/gpu": "3"}
    with pytest.raises(ConfigError, match=r"kubeai:queue\.deserved"):
        record_stack(config, platform=factories.outputs_of(factories.platform_config("eks")))


@pytest.mark.parametrize("kind", ["alluxio", "juicefs", "jindo", "thin"])
def test_dataset_and_runtime_match_the_fluid_crds(kind: str) -> None:
    dataset = DatasetConfig.model_validate(
        {
            "name": "imagenet",
            "size": "150Gi",
            "mounts": [
                {"name": "train", "mountPoint": "s3://data/imagenet/train"},
                {"name": "extra", "mountPoint": "pvc://extra-data", "readOnly": False},
            ],
            "runtime": {
                "kind": kind,
                "replicas": 2,
                "medium": "SSD",
                "cachePath": "/mnt/cache",
                "cacheQuota": "100Gi",
            },
        }
    )
    ds = dataset_manifest(dataset, "kubeai-cache-cv")
    assert ds["metadata"]["annotations"] == {PVC_SIZE_ANNOTATION: "150Gi"}
    assert ds["spec"]["accessModes"] == ["ReadWriteMany"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in ds["spec"][
        "tolerations"
    ]
    runtime = runtime_manifest(dataset, "kubeai-cache-cv")
    # a runtime binds the Dataset of its name and namespace
    assert runtime["metadata"] == {"name": "imagenet", "namespace": "kubeai-cache-cv"}
    assert runtime["spec"]["tieredstore"]["levels"][0]["mediumtype"] == "SSD"
    for component in RUNTIME_COMPONENTS[kind]:  # explicit limits >= requests everywhere
        resources = runtime["spec"][component]["resources"]
        assert set(resources["limits"]) == set(resources["requests"]) == {"cpu", "memory"}
    ref = reference_dataset_manifest(dataset, "cv", "kubeai-cache-cv")
    assert ref["metadata"]["namespace"] == "cv"
    assert ref["metadata"]["annotations"] == {PVC_SIZE_ANNOTATION: "150Gi"}
    assert ref["spec"]["mounts"] == [
        {"name": "imagenet", "mountPoint": "dataset://kubeai-cache-cv/imagenet", "path": "/"}
    ]
    assert crd_schema.errors(ds) == []
    assert crd_schema.errors(runtime) == []
    assert crd_schema.errors(ref) == []


def test_every_declared_object_validates(team_run) -> None:
    import kubernetes_validate

    run = team_run(
        "eks",
        secrets={
            "nvcrApiKey": "k",
            "artifactStoreAccessKeyId": "a",
            "artifactStoreSecretAccessKey": "b",
        },
    )
    custom = builtin = 0
    for resource in run.resources.values():
        if not resource.custom or not resource.type.startswith("kubernetes:"):
            continue
        if resource.type.startswith(("kubernetes:helm.sh", "pulumi:")):
            continue
        manifest = reveal(resource.inputs)
        group = resource.type.split(":")[1]
        api_group = group.split("/")[0]
        if "." in api_group and not api_group.endswith(".k8s.io"):  # rbac, networking: built in
            custom += 1
            assert crd_schema.errors(manifest) == [], resource.name
        else:
            builtin += 1
            kubernetes_validate.validate(manifest, "1.34.0", strict=True)
    # Queue, cached Dataset, AlluxioRuntime, the team's referencing Dataset, WorkflowTemplate
    assert custom == 5
    assert builtin >= 12


def test_namespace_labels_and_queue_annotation(team_run) -> None:
    run = team_run("eks")
    metadata = run.one(NAMESPACE, "team-namespace").inputs["metadata"]
    assert metadata["name"] == "cv"
    assert metadata["labels"]["kubeai.dev/team"] == "cv"  # the platform's team label
    assert metadata["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert metadata["annotations"] == {QUEUE_ANNOTATION: "cv", OWNER_ANNOTATION: "kubeai/test"}


def test_quota_and_limit_range(team_run) -> None:
    run = team_run("eks")
    hard = run.one("kubernetes:core/v1:ResourceQuota", "team-quota").inputs["spec"]["hard"]
    assert hard == {
        "requests.cpu": "64",
        "requests.memory": "256Gi",
        "requests.nvidia.com/gpu": "4",
        "pods": "500",
        "requests.storage": "1Ti",
        "persistentvolumeclaims": "50",
    }
    (limit,) = run.one("kubernetes:core/v1:LimitRange", "team-limits").inputs["spec"]["limits"]
    assert limit["type"] == "Container"
    assert limit["defaultRequest"] == {"cpu": "250m", "memory": "512Mi"}


def test_rbac_is_namespaced_and_bound_to_the_groups(team_run) -> None:
    run = team_run("eks")
    assert not [t for t in run.types() if "ClusterRole" in t]
    bindings = {
        r.name: r.inputs for r in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    }
    assert bindings["team-binding-member"]["subjects"] == [
        {"kind": "Group", "name": "cv-eng", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert bindings["team-binding-admin"]["subjects"][0]["name"] == "cv-leads"
    assert bindings["team-binding-executor"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "kubeai-workflow", "namespace": "cv"}
    ]
    for binding in bindings.values():
        assert binding["metadata"]["namespace"] == "cv"
        assert binding["roleRef"]["kind"] == "Role"


def test_role_rules_cover_the_lifecycle_and_viewers_only_read() -> None:
    rules = role_rules()
    member = {
        (g, r)
        for rule in rules["member"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        if "create" in rule["verbs"]
    }
    for needed in [
        ("kubeflow.org", "pytorchjobs"),
        ("kubeflow.org", "tfjobs"),
        ("kubeflow.org", "xgboostjobs"),
        ("argoproj.io", "workflows"),
        ("data.fluid.io", "datasets"),
        ("data.fluid.io", "dataloads"),
    ]:
        assert needed in member
    assert all(not WRITE_VERBS & set(rule["verbs"]) for rule in rules["viewer"])
    assert not any("secrets" in rule["resources"] for rule in rules["member"] + rules["viewer"])
    readable = {r for rule in rules["member"] for r in rule["resources"]}
    assert {"pods/log", "events", "services"} <= readable


def test_executor_can_report_task_results() -> None:
    (rule,) = [r for r in executor_rules() if "workflowtaskresults" in r["resources"]]
    assert rule["apiGroups"] == ["argoproj.io"]
    assert set(rule["verbs"]) == {"create", "patch"}


def test_service_accounts(team_run) -> None:
    run = team_run("eks")
    accounts = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in run.of_type("kubernetes:core/v1:ServiceAccount")
    }
    assert set(accounts) == {"kubeai-training", "kubeai-workflow"}
    assert accounts["kubeai-training"]["automountServiceAccountToken"] is False


def test_custom_resources_wait_for_the_namespace(team_run) -> None:
    run = team_run("eks")
    namespace = ("kubernetes:core/v1:Namespace", "team-namespace")
    for resource in run.resources.values():
        if resource.custom and resource.type.split(":")[1].split("/")[0].endswith(
            ("volcano.sh", "fluid.io")
        ):
            assert run.waits_for(resource.key, [namespace]), resource.name
    cached = ("kubernetes:data.fluid.io/v1alpha1:Dataset", "team-cache-dataset-imagenet")
    assert run.waits_for(
        ("kubernetes:data.fluid.io/v1alpha1:AlluxioRuntime", "team-runtime-imagenet"),
        [cached, ("kubernetes:core/v1:Namespace", "team-cache-namespace")],
    )
    assert run.waits_for(
        ("kubernetes:data.fluid.io/v1alpha1:Dataset", "team-dataset-imagenet"), [cached]
    )


def test_fluid_cache_runs_in_a_privileged_namespace_apart_from_the_team(team_run) -> None:
    run = team_run("eks")
    cache = run.one(NAMESPACE, "team-cache-namespace").inputs["metadata"]
    assert cache["name"] == "kubeai-cache-cv"
    assert cache["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "kubeai.dev/team" not in cache["labels"]  # controllers watching teams skip it
    team = run.one(NAMESPACE, "team-namespace").inputs["metadata"]
    assert team["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    runtime = run.one("kubernetes:data.fluid.io/v1alpha1:AlluxioRuntime", "team-runtime-imagenet")
    assert runtime.inputs["metadata"]["namespace"] == "kubeai-cache-cv"
    ref = run.one("kubernetes:data.fluid.io/v1alpha1:Dataset", "team-dataset-imagenet").inputs
    assert ref["metadata"]["namespace"] == "cv"
    assert ref["spec"]["mounts"][0]["mountPoint"] == "dataset://kubeai-cache-cv/imagenet"
    limits = run.one("kubernetes:core/v1:LimitRange", "team-cache-limits").inputs
    assert limits["metadata"]["namespace"] == "kubeai-cache-cv"
    # the team's groups are bound in the team namespace only
    for binding in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"):
        assert binding.inputs["metadata"]["namespace"] == "cv"


def test_inference_services(team_run) -> None:
    run = team_run("eks")
    resnet = run.one(RELEASE, "team-service-resnet")
    assert resnet.inputs["chart"] == "charts/triton-inference"
    assert (resnet.inputs["name"], resnet.inputs["namespace"]) == ("resnet", "cv")
    values = resnet.inputs["values"]
    assert values["gpu"]["count"] == 1 and values["replicas"] == 2
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values[
        "tolerations"
    ]
    assert values["tritonserver"]["image"]["tag"] == versions.TRITON_IMAGE.rsplit(":", 1)[1]
    assert values["registry"]["url"] == "http://kubeai-registry.kubeai-system.svc:8080"
    # explicit limits >= requests: CPU limit max(request, LimitRange default "2"), memory = request
    assert values["tritonserver"]["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert values["agent"]["resources"] == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    ranker = run.one(RELEASE, "team-service-ranker").inputs["values"]
    assert ranker["gpu"]["count"] == 0 and ranker["tolerations"] == []
    assert run.waits_for(resnet.key, [("kubernetes:core/v1:Namespace", "team-namespace")])


def test_static_keys_give_a_secret_and_the_team_artifact_repository(team_run) -> None:
    run = team_run(
        "eks", secrets={"artifactStoreAccessKeyId": "a", "artifactStoreSecretAccessKey": "b"}
    )
    secret = run.one("kubernetes:core/v1:Secret", "team-artifact-store")
    assert secret.inputs["metadata"] == {"name": "kubeai-artifact-store", "namespace": "cv"}
    cm = run.one("kubernetes:core/v1:ConfigMap", "team-artifact-repositories").inputs
    assert "kubeai-artifact-store" in cm["data"]["default-v1"]
    assert "argo/cv/" in cm["data"]["default-v1"]
    values = run.one(RELEASE, "team-service-resnet").inputs["values"]
    assert values["artifacts"]["s3"]["existingSecret"] == "kubeai-artifact-store"


def test_check_platform_gpu_capacity() -> None:
    platform = factories.outputs_of(factories.platform_config("eks"))  # 2 x 4 GPUs
    config = factories.team_config(
        quota={"gpus": 9},
        queue={"capability": {"gpus": 9}},
    )
    with pytest.raises(ConfigError) as caught:
        check_platform(config, platform)
    assert caught.value.problems[0][0] == "kubeai:quota.gpus"
    assert "at most 8" in str(caught.value)


def test_check_platform_needs_volcano_and_fluid() -> None:
    platform = factories.outputs_of(
        factories.platform_config(
            "eks",
            addons={
                "volcano": {"enabled": False},
                "fluid": {"enabled": False},
                "trainingOperator": {"enabled": False},
            },
        )
    )
    with pytest.raises(ConfigError) as caught:
        check_platform(factories.team_config(), platform)
    paths = {path for path, _ in caught.value.problems}
    assert paths == {"kubeai:queue", "kubeai:datasets"}


def test_half_artifact_keys_are_refused() -> None:
    from infra.mocks import record_stack

    platform = factories.outputs_of(factories.platform_config("eks"))
    with pytest.raises(ValueError, match="artifactStoreSecretAccessKey"):
        record_stack(
            factories.team_config(), secrets={"artifactStoreAccessKeyId": "a"}, platform=platform
        )


def test_gpu_services_wait_for_a_node_from_zero_and_cpu_services_do_not(team_run) -> None:
    run = team_run("eks")
    releases = run.of_type("kubernetes:helm.sh/v3:Release")
    assert releases
    gpus = {s.name: s.gpus for s in factories.team_config().inference_services}
    for release in releases:
        service = release.inputs["name"]
        assert release.inputs["timeout"] == (1800 if gpus[service] else 600), service
        assert release.inputs["atomic"] is True and release.inputs["cleanupOnFail"] is True


def test_check_platform_refuses_a_team_named_after_volcanos_root_queue() -> None:
    """Volcano's scheduler creates Queues ``default`` and ``root``; a team ``root`` would adopt
    the root queue (``default`` is a reserved namespace already)."""
    platform = factories.outputs_of(factories.platform_config("eks"))
    with pytest.raises(ConfigError) as caught:
        check_platform(factories.team_config(team={"name": "root"}), platform)
    [(path, text)] = caught.value.problems
    assert path == "kubeai:team.name" and "'root' is a Queue Volcano's scheduler creates" in text


ROLE = "arn:aws:iam::123456789012:role/kubeai-cv"
OSS_MOUNT = {
    "name": "train",
    "mountPoint": "oss://kubeai-data/imagenet/",
    "options": {"fs.oss.endpoint": "oss-cn-hangzhou-internal.aliyuncs.com"},
    "encryptOptions": [
        {
            "name": f"fs.oss.{option}",
            "valueFrom": {"secretKeyRef": {"name": "kubeai-dataset-credentials", "key": key}},
        }
        for option, key in (
            ("accessKeyId", "access-key-id"),
            ("accessKeySecret", "access-key-secret"),
        )
    ],
}
DATASET_KEYS = {"datasetAccessKeyId": "LTAI-id", "datasetAccessKeySecret": "oss-secret"}


def test_mount_options_and_encrypt_options_match_the_fluid_crd() -> None:
    dataset = DatasetConfig.model_validate(
        {"name": "imagenet", "size": "150Gi", "mounts": [OSS_MOUNT], "runtime": {"kind": "jindo"}}
    )
    manifest = dataset_manifest(dataset, "kubeai-cache-cv")
    [mount] = manifest["spec"]["mounts"]
    assert mount["options"] == OSS_MOUNT["options"]
    assert mount["encryptOptions"] == OSS_MOUNT["encryptOptions"]
    assert crd_schema.errors(manifest) == []
    plain = dataset_manifest(factories.team_config().datasets[0], "kubeai-cache-cv")
    assert "options" not in plain["spec"]["mounts"][0]
    assert "encryptOptions" not in plain["spec"]["mounts"][0]


def test_dataset_credentials_secret_lives_in_the_cache_namespace(team_run) -> None:
    datasets = [{"name": "imagenet", "size": "200Gi", "mounts": [OSS_MOUNT]}]
    run = team_run("eks", secrets=DATASET_KEYS, datasets=datasets)
    secret = run.one("kubernetes:core/v1:Secret", "team-dataset-credentials")
    assert secret.inputs["metadata"] == {
        "name": "kubeai-dataset-credentials",
        "namespace": "kubeai-cache-cv",
    }
    assert is_secret(secret.inputs["stringData"])
    assert reveal(secret.inputs["stringData"]) == {
        "access-key-id": "LTAI-id",
        "access-key-secret": "oss-secret",
    }
    cached = run.one("kubernetes:data.fluid.io/v1alpha1:Dataset", "team-cache-dataset-imagenet")
    assert run.waits_for(cached.key, [secret.key])
    # without references, no Secret even when the keys are set
    plain = team_run("eks", secrets=DATASET_KEYS)
    assert not [s for s in plain.of_type("kubernetes:core/v1:Secret") if "dataset" in s.name]


def test_dataset_credentials_without_their_pulumi_secrets_are_refused() -> None:
    from infra.mocks import record_stack

    config = factories.team_config(
        datasets=[{"name": "imagenet", "size": "200Gi", "mounts": [OSS_MOUNT]}]
    )
    platform = factories.outputs_of(factories.platform_config("eks"))
    with pytest.raises(ValueError, match="kubeai:datasetAccessKeySecret"):
        record_stack(config, secrets={"datasetAccessKeyId": "a"}, platform=platform)
    with pytest.raises(
        ValueError, match="kubeai:datasetAccessKeyId, kubeai:datasetAccessKeySecret"
    ):
        record_stack(config, platform=platform)


def test_training_and_serving_accounts_carry_identities_and_pull_secrets(team_run) -> None:
    run = team_run(
        "eks",
        serviceAccounts={
            "training": {"workloadIdentity": {"awsRoleArn": ROLE}},
            "workflow": {"workloadIdentity": {"awsRoleArn": ROLE + "-workflow"}},
            "serving": {"annotations": {"example.com/owner": "cv"}},
        },
        imagePullSecrets=["cv-pull"],
    )
    accounts = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in run.of_type("kubernetes:core/v1:ServiceAccount")
    }
    training, workflow = accounts["kubeai-training"], accounts["kubeai-workflow"]
    assert training["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE}
    assert workflow["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE + "-workflow"}
    assert training["imagePullSecrets"] == workflow["imagePullSecrets"] == [{"name": "cv-pull"}]
    for release in run.of_type(RELEASE):
        values = reveal(release.inputs["values"])
        assert values["serviceAccount"] == {"annotations": {"example.com/owner": "cv"}}
        assert {"name": "cv-pull"} in values["imagePullSecrets"]
    namespace = run.one(NAMESPACE, "team-namespace").inputs["metadata"]
    assert "pod-identity.alibabacloud.com/injection" not in namespace["labels"]


def test_rrsa_training_switches_the_webhook_on_for_the_namespace() -> None:
    from infra.mocks import record_stack

    config = factories.team_config(
        serviceAccounts={"training": {"workloadIdentity": {"alicloudRoleName": "cv-training"}}}
    )
    platform = factories.outputs_of(factories.platform_config("ack"))
    run = record_stack(config, platform=platform)
    namespace = run.one(NAMESPACE, "team-namespace").inputs["metadata"]
    assert namespace["labels"]["pod-identity.alibabacloud.com/injection"] == "on"


def test_changed_static_keys_roll_the_services(team_run) -> None:
    def digest(key: str) -> str:
        keys = {"artifactStoreAccessKeyId": "id", "artifactStoreSecretAccessKey": key}
        release = team_run("eks", secrets=keys).of_type(RELEASE)[0]
        return reveal(release.inputs["values"])["checksums"]["artifact-store"]

    assert digest("one") == digest("one") != digest("two")
    keyless = team_run("eks").of_type(RELEASE)[0]
    assert reveal(keyless.inputs["values"])["checksums"] == {}


def test_training_guardrails_are_declared_after_the_namespace(team_run) -> None:
    """The params ConfigMap (the platform's pools and the team's queue and quota), the policy
    and its binding (after both): ``infra.policies.training``."""
    from infra.policies.training import binding_spec, policy_spec, training_limits

    run = team_run("eks")
    params = run.one("kubernetes:core/v1:ConfigMap", "team-training-limits")
    assert params.inputs["metadata"]["name"] == "kubeai-training-limits"
    assert params.inputs["metadata"]["namespace"] == "cv"
    platform = factories.outputs_of(factories.platform_config("eks"))
    assert params.inputs["data"] == training_limits(factories.team_config(), platform).data()
    assert "team-namespace" in params.depends_on
    vap = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
    policy = run.one(vap, "team-training-policy")
    assert policy.inputs["metadata"]["name"] == "kubeai-training-cv"
    limits = training_limits(factories.team_config(), platform)
    assert policy.inputs["spec"] == policy_spec(limits)
    binding = run.one(f"{vap}Binding", "team-training-policy-binding")
    assert binding.inputs["spec"] == binding_spec("cv")
    assert {"team-training-policy", "team-training-limits"} <= set(binding.depends_on)
