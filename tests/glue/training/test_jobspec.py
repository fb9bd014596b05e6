"""glue/training/jobspec.py: the short spec of ``kubeai train submit`` and its PyTorchJob."""

from __future__ import annotations

import json

import pytest

from glue.training import jobspec
from glue.training.jobspec import JobSpecError, TeamLimits, parse_spec, render_pytorchjob
from infra.policies import training as policy
from infra.tenancy import TRAINING_SERVICE_ACCOUNT
from tests.infra import crd_schema, factories

SPEC = {
    "model": "digits",
    "image": "registry.example/train:1",
    "command": ["python", "train.py"],
    "workers": 2,
    "gpusPerReplica": 1,
    "cpu": "4",
    "memory": "16Gi",
    "datasetPvc": "click-logs",
    "params": {"lr": 0.01, "epochs": 3},
    "artifactUri": "s3://bucket/models/digits/run-1",
}
LIMITS = TeamLimits(
    queue="cv", max_gpus_per_node=2, gpu_taint=("nvidia.com/gpu", "present", "NoSchedule")
)


def test_the_names_shared_with_the_policy_agree() -> None:
    assert jobspec.LIMITS_CONFIGMAP == policy.LIMITS_CONFIGMAP
    assert jobspec.MODEL_LABEL == policy.MODEL_LABEL
    assert jobspec.TRAINING_SERVICE_ACCOUNT == TRAINING_SERVICE_ACCOUNT


def test_renders_a_gang_in_the_team_queue_with_gpus_tolerations_and_the_model_label() -> None:
    job = render_pytorchjob(parse_spec(SPEC), LIMITS, namespace="cv")
    assert job["metadata"]["generateName"] == "digits-"
    assert job["metadata"]["labels"] == {"kubeai.dev/model": "digits"}
    assert job["metadata"]["annotations"] == {
        "kubeai.dev/artifact-uri": "s3://bucket/models/digits/run-1",
        "kubeai.dev/params": '{"epochs": 3, "lr": 0.01}',
    }
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {"queue": "cv", "minAvailable": 3}
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 2}
    for replica in replicas.values():
        pod = replica["template"]["spec"]
        assert pod["serviceAccountName"] == "kubeai-training"
        assert pod["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
        (container,) = pod["containers"]
        assert container["name"] == "pytorch"
        amounts = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
        assert container["resources"] == {"requests": amounts, "limits": amounts}
        assert json.loads(container["env"][0]["value"]) == {"epochs": 3, "lr": 0.01}
        assert pod["volumes"][0]["persistentVolumeClaim"] == {
            "claimName": "click-logs",
            "readOnly": True,
        }
        assert container["volumeMounts"][0]["mountPath"] == "/data"
    assert crd_schema.errors(job) == []


def test_cpu_jobs_get_no_toleration_and_a_lone_master() -> None:
    spec = parse_spec({**SPEC, "workers": 0, "gpusPerReplica": 0, "name": "run-7"})
    job = render_pytorchjob(spec, LIMITS, namespace="cv")
    assert job["metadata"]["name"] == "run-7"
    assert list(job["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    pod = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert "tolerations" not in pod
    assert job["spec"]["runPolicy"]["schedulingPolicy"]["minAvailable"] == 1


def test_more_gpus_than_a_node_holds_names_the_key() -> None:
    with pytest.raises(JobSpecError, match=r"^gpusPerReplica: 3 GPUs per replica.*has 2"):
        render_pytorchjob(parse_spec({**SPEC, "gpusPerReplica": 3}), LIMITS, namespace="cv")


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({**SPEC, "workers": -1}, "workers"),
        ({**SPEC, "cpu": "four"}, "cpu"),
        ({**SPEC, "memory": True}, "memory"),
        ({**SPEC, "model": "Digits"}, "model"),
        ({**SPEC, "gpus": 1}, "gpus"),
        ({k: v for k, v in SPEC.items() if k != "image"}, "image"),
        ({**SPEC, "command": []}, "command"),
        ({**SPEC, "params": {"lr": [1]}}, "params.lr"),
        # the trial's inputs: coerced, infinite or system-hiding values are refused, not taken
        ({**SPEC, "gpusPerReplica": True}, "gpusPerReplica"),
        ({**SPEC, "workers": "3"}, "workers"),
        ({**SPEC, "workers": 2.0}, "workers"),
        ({**SPEC, "cpu": "1e400"}, "cpu"),
        ({**SPEC, "memory": "9Ei"}, "memory"),
        ({**SPEC, "datasetMountPath": "/"}, "datasetMountPath"),
        ({**SPEC, "datasetMountPath": "/proc"}, "datasetMountPath"),
        ({**SPEC, "datasetMountPath": "/etc/ssl"}, "datasetMountPath"),
        ({**SPEC, "datasetMountPath": "/usr/lib/x"}, "datasetMountPath"),
        ({**SPEC, "datasetMountPath": "/var/run/secrets"}, "datasetMountPath"),
        ({**SPEC, "datasetMountPath": "/data/../etc"}, "datasetMountPath"),
        ({**SPEC, "datasetMountPath": "data"}, "datasetMountPath"),
        ({**SPEC, "params": {"learning rate": 0.1}}, "params"),
        ({**SPEC, "params": {"lr": float("nan")}}, "params"),
        ({**SPEC, "artifactUri": "not a uri"}, "artifactUri"),
        (["model"], "(spec)"),
    ],
)
def test_a_bad_spec_names_the_key_path(document: object, path: str) -> None:
    with pytest.raises(JobSpecError) as caught:
        parse_spec(document)
    assert caught.value.path.startswith(path), str(caught.value)


def test_limits_from_the_policy_params_configmap() -> None:
    config = factories.team_config()
    outputs = factories.outputs_of(factories.platform_config("eks"))
    configmap = policy.limits_configmap(policy.training_limits(config, outputs))
    got = TeamLimits.from_configmap(configmap)
    assert got == TeamLimits(
        queue="cv", max_gpus_per_node=2, gpu_taint=("nvidia.com/gpu", "present", "NoSchedule")
    )
    with pytest.raises(JobSpecError, match=r"data\.queue: missing"):
        TeamLimits.from_configmap({"data": {}})
    with pytest.raises(JobSpecError, match=r"data\.maxGpusPerNode"):
        TeamLimits.from_configmap({"data": {"queue": "cv", "maxGpusPerNode": "x"}})


@pytest.mark.parametrize("path", ["/data", "/mnt/datasets/clicks", "/workspace/data", "/varied"])
def test_dataset_mount_paths_outside_system_directories_are_taken(path: str) -> None:
    job = render_pytorchjob(parse_spec({**SPEC, "datasetMountPath": path}), LIMITS, namespace="cv")
    pod = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == path


def test_the_controller_reads_the_rendered_params() -> None:
    """The trial's spec ``params: {lr: 0.01, epochs: 10}``: the lifecycle controller's own
    ``jobs.params`` finds them on the rendered job (it reads the annotation, not the env)."""
    from glue.controller import jobs

    spec = parse_spec({**SPEC, "params": {"lr": 0.01, "epochs": 10, "amp": True}})
    job = render_pytorchjob(spec, LIMITS, namespace="cv")
    job["metadata"]["name"] = "digits-1"
    assert jobs.params(jobs.kind_of(job), job) == {"lr": "0.01", "epochs": "10", "amp": "true"}
    # the training code still gets them as one JSON env
    container = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert container["env"] == [
        {"name": "KUBEAI_PARAMS", "value": '{"amp": true, "epochs": 10, "lr": 0.01}'}
    ]
