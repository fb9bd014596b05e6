"""The training-job guardrails (``infra.policies.training``) on a real apiserver.

Installed as the team stack would: the pinned training-operator and Volcano CRDs, the team
Namespace, then ``infra.policies.training.manifests`` (params ConfigMap, ValidatingAdmissionPolicy,
binding) for a team built from ``team-search-prod`` on ``prod-eks`` (renamed ``guarded``, with a
larger quota so each rule can be broken alone: 16 GPUs, 512 CPUs, 4Ti memory). Every job is
created with ``dryRun=All`` (admission runs in full, nothing is stored).

For EACH rule a violating job is refused with a message naming the field path and the limit, and
the matching valid job (the same job with the one defect removed) is accepted. The inputs are
kept in ``CASES``. Also: the other job kinds (TFJob, XGBoostJob, MPIJob, Volcano Job, batch/v1
Job with ``kubeai.dev/model``) go through the same rules, unlabelled batch Jobs are left alone,
and every job ``kubeai train submit`` renders from the same limits ConfigMap is admitted.

The trial's bypasses are kept with their right answers: a GPU request over its limit
(``requests-limits``), a MIG resource no pool offers (``accelerators``), init containers, sidecars
and pod-level ``spec.resources`` counted as Kubernetes counts them, an elastic PyTorchJob's
``maxReplicas`` counted as Workers, ``pytorchjobs/scale`` to 5000 replicas refused (on a stored
job; the HPA controller may scale), and, with the limits ConfigMap deleted, a stored job's
metadata patch admitted while its spec is still checked.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from glue.training.jobspec import JobSpec, render_pytorchjob
from infra import upstream
from infra.config import TeamConfig, parse_config
from infra.controlplane.harness import ControlPlane
from infra.policies.training import limits_configmap, manifests, training_limits
from infra.render import platform_for
from tests.support.helm import REPO_ROOT
from tests.support.kubeapi import DRY_RUN, KubeApi, impersonating, message

STACKS_DIR = REPO_ROOT / "stacks"
TEAM = "guarded"
CRDS = (
    "training-operator/v1.9.4/kubeflow.org_pytorchjobs.yaml",
    "training-operator/v1.9.4/kubeflow.org_tfjobs.yaml",
    "training-operator/v1.9.4/kubeflow.org_xgboostjobs.yaml",
    "training-operator/v1.9.4/kubeflow.org_mpijobs.yaml",
    "volcano/v1.15.1/batch.volcano.sh_jobs.yaml",
)
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
HPA_CONTROLLER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"


def team_config() -> TeamConfig:
    """team-search-prod renamed ``guarded``, its quota and queue raised (module docstring)."""
    document = yaml.safe_load((STACKS_DIR / "Pulumi.team-search-prod.yaml").read_text())
    values = {
        k.split(":", 1)[1]: v for k, v in document["config"].items() if k.startswith("kubeai:")
    }
    values["team"]["name"] = TEAM
    big = {"cpu": "512", "memory": "4Ti", "gpus": 16}
    values["queue"]["capability"] = big
    values["quota"].update(big)
    config = parse_config(values)
    assert isinstance(config, TeamConfig)
    return config


def container(cpu: str = "1", memory: str = "2Gi", gpus: int = 0) -> dict[str, Any]:
    """A training container with requests (= limits) of ``cpu``/``memory`` and ``gpus``."""
    amounts: dict[str, Any] = {"cpu": cpu, "memory": memory}
    if gpus:
        amounts["nvidia.com/gpu"] = gpus
    return {
        "name": "pytorch",
        "image": "registry.invalid/train:1",
        "resources": {"requests": dict(amounts), "limits": dict(amounts)},
    }


def pod(cpu: str = "1", memory: str = "2Gi", gpus: int = 0, **spec: Any) -> dict[str, Any]:
    """A pod template; GPU pods tolerate the GPU taint unless ``tolerations`` is given."""
    body: dict[str, Any] = {"containers": [container(cpu, memory, gpus)]}
    if gpus:
        body["tolerations"] = [GPU_TOLERATION]
    body.update(spec)
    return {"spec": body}


def pytorch(workers: int = 1, name: str = "job", **worker: Any) -> dict[str, Any]:
    """A PyTorchJob: one Master (CPU) and ``workers`` Workers built by ``pod(**worker)``."""
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": TEAM},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": pod()},
                "Worker": {"replicas": workers, "template": pod(**worker)},
            }
        },
    }


def worker_container(job: dict[str, Any], **resources: Any) -> dict[str, Any]:
    """``job`` (a ``pytorch``) with its Worker container's ``resources`` replaced."""
    job = copy.deepcopy(job)
    pod_spec = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    pod_spec["containers"][0]["resources"] = resources
    return job


def init_container(gpus: int, *, sidecar: bool = False) -> dict[str, Any]:
    """An init container asking for ``gpus`` (a sidecar: ``restartPolicy: Always``)."""
    body = container(cpu="100m", memory="64Mi", gpus=gpus)
    body["name"] = "sidecar" if sidecar else "fetch"
    if sidecar:
        body["restartPolicy"] = "Always"
    return body


def elastic(job: dict[str, Any], most: int) -> dict[str, Any]:
    """``job`` (a ``pytorch``) made elastic: Workers may grow to ``most``."""
    job = copy.deepcopy(job)
    job["spec"]["elasticPolicy"] = {"minReplicas": 1, "maxReplicas": most}
    return job


def scheduling(job: dict[str, Any], **policy: Any) -> dict[str, Any]:
    """``job`` with ``spec.runPolicy.schedulingPolicy`` set to ``policy``."""
    job = copy.deepcopy(job)
    job["spec"]["runPolicy"] = {"schedulingPolicy": policy}
    return job


#: rule -> (violating job, the words its message must hold, the matching valid job)
CASES: dict[str, tuple[dict[str, Any], list[str], dict[str, Any]]] = {
    "requests-limits": (
        # the trial's input: GPU limit 0 with request 9 (counted 0 GPUs before)
        worker_container(
            pytorch(gpus=1), requests={"nvidia.com/gpu": 9}, limits={"nvidia.com/gpu": 0}
        ),
        [
            "spec.pytorchReplicaSpecs.Worker.template.spec.containers[pytorch].resources"
            ".requests[nvidia.com/gpu]: request 9 differs from its limit 0",
            "Kubernetes would refuse every pod",
        ],
        worker_container(
            pytorch(gpus=1), requests={"nvidia.com/gpu": 8}, limits={"nvidia.com/gpu": 8}
        ),
    ),
    "accelerators": (
        # the trial's input: a MIG resource no pool offers (not counted before)
        worker_container(pytorch(gpus=1), limits={"nvidia.com/mig-7g.80gb": 500}),
        [
            "spec.pytorchReplicaSpecs.Worker.template.spec.containers[pytorch].resources"
            ".limits[nvidia.com/mig-7g.80gb]",
            "no node of team guarded's pools offers this resource",
        ],
        worker_container(pytorch(gpus=1), limits={"nvidia.com/gpu": 1}),
    ),
    "queue": (
        scheduling(pytorch(), queue="search"),
        ["spec.runPolicy.schedulingPolicy.queue", "queue search", "use guarded"],
        scheduling(pytorch(), queue=TEAM),
    ),
    "gang-size": (
        scheduling(pytorch(workers=2), minAvailable=5),
        ["spec.runPolicy.schedulingPolicy.minAvailable", "gang of 5", "3 replicas"],
        scheduling(pytorch(workers=2), minAvailable=3),
    ),
    "gang-pods": (
        pytorch(workers=600, cpu="100m", memory="64Mi"),
        ["spec.pytorchReplicaSpecs[*].replicas: a gang of 601 pods", "500 pods"],
        scheduling(pytorch(workers=600, cpu="100m", memory="64Mi"), minAvailable=100),
    ),
    "gang-gpus": (
        pytorch(workers=3, gpus=8),
        [
            "spec.pytorchReplicaSpecs[*].replicas x containers[*].resources.limits[nvidia.com/gpu]",
            "24 GPUs in all",
            "at most 16",
        ],
        pytorch(workers=2, gpus=8),
    ),
    "gang-cpu": (
        pytorch(workers=4, cpu="150"),
        [
            "spec.pytorchReplicaSpecs[*].replicas x containers[*].resources.requests.cpu",
            "601 CPUs in all",
            "at most 512",
        ],
        pytorch(workers=3, cpu="150"),
    ),
    "gang-memory": (
        pytorch(workers=3, memory="1500Gi"),
        [
            "spec.pytorchReplicaSpecs[*].replicas x containers[*].resources.requests.memory",
            "4502Gi in all",
            "at most 4Ti",
        ],
        pytorch(workers=2, memory="1500Gi"),
    ),
    "gpus-per-replica": (
        pytorch(gpus=9),
        [
            "spec.pytorchReplicaSpecs.Worker.template.spec.containers[*].resources.limits"
            "[nvidia.com/gpu]",
            "9 GPUs",
            "has 8",
        ],
        pytorch(gpus=8),
    ),
    "cpu-per-replica": (
        pytorch(cpu="200"),
        ["spec.pytorchReplicaSpecs.Worker", "requests.cpu", "200 CPUs", "offers 191450m"],
        pytorch(cpu="191"),
    ),
    "memory-per-replica": (
        pytorch(memory="2000Gi"),
        ["spec.pytorchReplicaSpecs.Worker", "requests.memory", "2000Gi", "offers 1900Gi"],
        pytorch(memory="1900Gi"),
    ),
    "gpu-toleration": (
        pytorch(gpus=1, tolerations=[]),
        [
            "spec.pytorchReplicaSpecs.Worker.template.spec.tolerations",
            "nvidia.com/gpu=present:NoSchedule",
        ],
        pytorch(gpus=1, tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]),
    ),
    "node-pool": (
        pytorch(nodeSelector={"kubeai.dev/pool": "gpu-a100"}),
        [
            "spec.pytorchReplicaSpecs.Worker.template.spec.nodeSelector[kubeai.dev/pool]",
            "pool gpu-a100",
            "cpu-general,gpu-l4,gpu-h100",
        ],
        pytorch(nodeSelector={"kubeai.dev/pool": "gpu-h100"}),
    ),
    "gpu-type": (
        pytorch(gpus=1, nodeSelector={"kubeai.dev/gpu-type": "nvidia-a100"}),
        [
            "spec.pytorchReplicaSpecs.Worker.template.spec.nodeSelector[kubeai.dev/gpu-type]",
            "GPU type nvidia-a100",
            "nvidia-h100,nvidia-l4",
        ],
        pytorch(gpus=1, nodeSelector={"kubeai.dev/gpu-type": "nvidia-l4"}),
    ),
}


@pytest.fixture(scope="module")
def kube(control_plane: ControlPlane) -> Iterator[KubeApi]:
    """The admin's API with the CRDs, the team Namespace and the team's guardrails installed;
    waits until the policy refuses (the apiserver loads policies and params asynchronously)."""
    root = upstream.ensure("crds")
    crds = [yaml.safe_load((root / name).read_text()) for name in CRDS]
    limits = training_limits(team_config(), platform_for(team_config(), STACKS_DIR))
    with control_plane.client(timeout=60.0) as admin:
        api = KubeApi(admin)
        api.apply_all(crds)
        api.wait_established([crd["metadata"]["name"] for crd in crds])
        api.apply_all([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TEAM}}])
        api.apply_all(manifests(limits))
        violating = CASES["queue"][0]
        deadline = time.monotonic() + 30
        while create(api, violating).is_success:
            assert time.monotonic() < deadline, "the policy never started refusing"
            time.sleep(0.2)
        yield api


def create(api: KubeApi, job: dict[str, Any]) -> Any:
    """POST ``job`` with ``dryRun=All``; returns the answer."""
    path = api.path(job["apiVersion"], job["kind"], namespace=job["metadata"]["namespace"])
    return api.client.post(path, params=DRY_RUN, json=job)


def assert_refused(api: KubeApi, job: dict[str, Any], words: list[str]) -> str:
    """Assert the apiserver refuses ``job`` with a message holding every one of ``words``."""
    response = create(api, job)
    assert response.status_code in (403, 422), response.text
    text = message(response)
    assert "kubeai-training-guarded" in text, text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    return text


def assert_accepted(api: KubeApi, job: dict[str, Any]) -> None:
    """Assert the apiserver admits ``job``."""
    response = create(api, job)
    assert response.is_success, message(response)


@pytest.mark.parametrize("rule", list(CASES))
def test_each_rule_refuses_the_violating_job_and_admits_the_valid_one(
    kube: KubeApi, rule: str
) -> None:
    violating, words, valid = CASES[rule]
    assert_refused(kube, violating, words)
    assert_accepted(kube, valid)


def _replicas(kind: str, field: str, types: tuple[str, str]) -> Callable[..., dict[str, Any]]:
    def build(**worker: Any) -> dict[str, Any]:
        return {
            "apiVersion": "kubeflow.org/v1",
            "kind": kind,
            "metadata": {"name": "job", "namespace": TEAM},
            "spec": {
                field: {
                    types[0]: {"replicas": 1, "template": pod()},
                    types[1]: {"replicas": 1, "template": pod(**worker)},
                }
            },
        }

    return build


def volcano_job(queue: str = TEAM, **worker: Any) -> dict[str, Any]:
    """A Volcano Job of one task of one replica."""
    return {
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "job", "namespace": TEAM},
        "spec": {
            "minAvailable": 1,
            "queue": queue,
            "tasks": [{"name": "worker", "replicas": 1, "template": pod(**worker)}],
        },
    }


def batch_job(labelled: bool = True, **worker: Any) -> dict[str, Any]:
    """A batch/v1 Job (``kubeai.dev/model: digits`` when ``labelled``)."""
    template = pod(**worker)
    template["spec"]["restartPolicy"] = "Never"
    meta: dict[str, Any] = {"name": "job", "namespace": TEAM}
    if labelled:
        meta["labels"] = {"kubeai.dev/model": "digits"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {"template": template},
    }


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (_replicas("TFJob", "tfReplicaSpecs", ("Chief", "Worker")), "spec.tfReplicaSpecs.Worker"),
        (
            _replicas("XGBoostJob", "xgbReplicaSpecs", ("Master", "Worker")),
            "spec.xgbReplicaSpecs.Worker",
        ),
        (
            _replicas("MPIJob", "mpiReplicaSpecs", ("Launcher", "Worker")),
            "spec.mpiReplicaSpecs.Worker",
        ),
        (volcano_job, "spec.tasks[0]"),
        (batch_job, "spec"),
    ],
    ids=["TFJob", "XGBoostJob", "MPIJob", "VolcanoJob", "BatchJob"],
)
def test_every_job_kind_is_checked_per_replica(
    kube: KubeApi, build: Callable[..., dict[str, Any]], path: str
) -> None:
    assert_refused(kube, build(gpus=9), [f"{path}.template.spec.containers[*]", "9 GPUs"])
    assert_refused(kube, build(gpus=1, tolerations=[]), [f"{path}.template.spec.tolerations"])
    assert_accepted(kube, build(gpus=8))


def test_volcano_job_queue_and_gang(kube: KubeApi) -> None:
    assert_refused(kube, volcano_job(queue="search"), ["spec.queue: queue search"])
    assert_accepted(kube, volcano_job(queue="default"))  # Volcano's webhook default
    job = volcano_job()
    job["spec"]["minAvailable"] = 2
    assert_refused(kube, job, ["spec.minAvailable: a gang of 2 pods", "1 replicas"])
    assert_accepted(kube, volcano_job())


def test_unlabelled_batch_jobs_are_no_training_jobs(kube: KubeApi) -> None:
    assert_accepted(kube, batch_job(labelled=False, gpus=9))


def test_rendered_jobs_always_pass(kube: KubeApi) -> None:
    """``kubeai train submit`` renders from the params ConfigMap as read back from the plane."""
    from glue.training.jobspec import TeamLimits

    configmap = kube.client.get(
        kube.path("v1", "ConfigMap", namespace=TEAM, name="kubeai-training-limits")
    ).json()
    limits = TeamLimits.from_configmap(configmap)
    for gpus, workers in ((0, 1), (1, 3), (8, 1)):
        spec = JobSpec.model_validate(
            {
                "model": "digits",
                "image": "registry.invalid/train:1",
                "command": ["python", "train.py"],
                "workers": workers,
                "gpusPerReplica": gpus,
                "cpu": "4",
                "memory": "16Gi",
            }
        )
        assert_accepted(kube, render_pytorchjob(spec, limits, namespace=TEAM))


def test_train_submit_creates_the_job_through_the_kubeconfig(
    kube: KubeApi, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """``kubeai train submit`` with the plane's kubeconfig: the job is created (and admitted),
    in the team's queue, then deleted."""
    from typer.testing import CliRunner

    from glue.cli.main import app

    config = control_plane.write_kubeconfig(tmp_path / "kubeconfig")
    spec = tmp_path / "job.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "model": "digits",
                "image": "registry.invalid/train:1",
                "command": ["python", "train.py"],
                "workers": 1,
                "gpusPerReplica": 1,
            }
        )
    )
    argv = ["train", "submit", str(spec), "--kubeconfig", str(config), "-n", TEAM]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    name = result.output.split(f"pytorchjob {TEAM}/")[1].split()[0]
    path = kube.path("kubeflow.org/v1", "PyTorchJob", namespace=TEAM, name=name)
    job = kube.client.get(path).json()
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {"queue": TEAM, "minAvailable": 2}
    assert job["metadata"]["labels"] == {"kubeai.dev/model": "digits"}
    assert kube.client.delete(path).is_success


#: the trial's bypasses counted now, each (violating job, words, the matching valid job)
COUNTED: dict[str, tuple[dict[str, Any], list[str], dict[str, Any]]] = {
    "init-container-gpus": (
        # max(init 64, containers 1) = 64 GPUs per replica (upstream AggregateContainerRequests)
        pytorch(gpus=1, initContainers=[init_container(64)]),
        ["spec.pytorchReplicaSpecs[*].replicas x containers[*]", "64 GPUs in all", "at most 16"],
        pytorch(gpus=8, initContainers=[init_container(8)]),
    ),
    "elastic-max-replicas": (
        elastic(pytorch(), 1000),
        [
            "spec.pytorchReplicaSpecs[*].replicas (Worker: spec.elasticPolicy.maxReplicas 1000)",
            "a gang of 1001 pods exceeds the 500 pods",
        ],
        elastic(pytorch(), 4),
    ),
    "elastic-max-replicas-gpus": (
        elastic(pytorch(gpus=8), 3),
        ["spec.elasticPolicy.maxReplicas 3", "24 GPUs in all", "at most 16"],
        elastic(pytorch(gpus=8), 2),
    ),
}


@pytest.mark.parametrize("case", list(COUNTED))
def test_init_containers_and_elastic_workers_are_counted(kube: KubeApi, case: str) -> None:
    violating, words, valid = COUNTED[case]
    assert_refused(kube, violating, words)
    assert_accepted(kube, valid)


def test_sidecars_add_to_the_containers_and_init_containers_do_not(kube: KubeApi) -> None:
    """A sidecar (init, ``restartPolicy: Always``) runs beside the containers: 8 + 1 GPUs; a
    plain init container runs before them: max(1, 8)."""
    sidecar = batch_job(gpus=8)
    sidecar["spec"]["template"]["spec"]["initContainers"] = [init_container(1, sidecar=True)]
    assert_refused(kube, sidecar, ["spec.template.spec.containers[*]", "9 GPUs", "has 8"])
    plain = batch_job(gpus=8)
    plain["spec"]["template"]["spec"]["initContainers"] = [init_container(1)]
    assert_accepted(kube, plain)


def test_pod_level_resources_are_counted(kube: KubeApi) -> None:
    """The trial's input: a labelled batch Job whose pod-level ``spec.resources`` (Kubernetes
    1.34+) ask for 100Ti memory and 10k CPUs."""

    def with_pod_level(**requests: str) -> dict[str, Any]:
        job = batch_job()
        job["spec"]["template"]["spec"]["resources"] = {"requests": requests}
        return job

    assert_refused(
        kube,
        with_pod_level(cpu="10k", memory="100Ti"),
        ["spec.parallelism x containers[*].resources.requests.cpu", "10000 CPUs in all"],
    )
    assert_refused(
        kube,
        with_pod_level(memory="100Ti"),
        ["spec.parallelism x containers[*].resources.requests.memory", "102400Gi in all"],
    )
    assert_accepted(kube, with_pod_level(cpu="4", memory="16Gi"))


@pytest.fixture
def stored(kube: KubeApi) -> Iterator[tuple[str, dict[str, Any]]]:
    """A PyTorchJob really stored (one Master, one Worker): its path and manifest."""
    job = pytorch(name="stored")
    path = kube.path(job["apiVersion"], job["kind"], namespace=TEAM)
    response = kube.client.post(path, json=job)
    assert response.is_success, message(response)
    yield f"{path}/stored", job
    assert kube.client.delete(f"{path}/stored").is_success


def test_scaling_up_through_the_scale_subresource_is_refused(
    kube: KubeApi, stored: tuple[str, dict[str, Any]], control_plane: ControlPlane
) -> None:
    """The trial's input: merge-patching ``pytorchjobs/scale`` to 5000 replicas (admitted
    before, while the same change through the job was refused)."""
    path, _ = stored
    patch = json.dumps({"spec": {"replicas": 5000}})
    response = kube.client.patch(f"{path}/scale", content=patch, headers=MERGE_PATCH)
    assert response.status_code in (403, 422), response.text
    text = message(response)
    for word in (
        "pytorchjobs/scale: scaling stored up from 1 to 5000 replicas",
        "spec.pytorchReplicaSpecs.Worker.replicas on the job itself",
    ):
        assert word in text, text
    worker = {"spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": 5000}}}}
    response = kube.client.patch(path, content=json.dumps(worker), headers=MERGE_PATCH)
    assert response.status_code in (403, 422), response.text  # the job itself: checked in full
    assert kube.client.get(f"{path}/scale").json()["spec"]["replicas"] == 1
    down = json.dumps({"spec": {"replicas": 0}})
    response = kube.client.patch(f"{path}/scale", params=DRY_RUN, content=down, headers=MERGE_PATCH)
    assert response.is_success, message(response)
    # the HorizontalPodAutoscaler (an elastic job's, bounded by its checked maxReplicas) may
    with impersonating(control_plane, HPA_CONTROLLER) as hpa:
        scale = hpa.get(f"{path}/scale").json()
        scale["spec"]["replicas"] = 3
        response = hpa.put(f"{path}/scale", params=DRY_RUN, json=scale)
        assert response.is_success, message(response)


def test_updates_that_keep_the_spec_pass_without_the_limits_configmap(
    kube: KubeApi, stored: tuple[str, dict[str, Any]]
) -> None:
    """The trial's input: with ConfigMap kubeai-training-limits deleted (team admins may delete
    ConfigMaps), a metadata patch (the controller's annotations) was refused 422 "no params
    found". The limits now live in the policy: annotations pass, the spec is still checked."""
    path, _ = stored
    limits = limits_configmap(
        training_limits(team_config(), platform_for(team_config(), STACKS_DIR))
    )
    configmap = kube.object_path(limits)
    try:
        # an edited ConfigMap loosens nothing: it is no input of the policy
        loosened = copy.deepcopy(limits)
        loosened["data"].update(maxGpus="1000", maxPods="100000")
        assert kube.apply(loosened).is_success
        violating, words, _ = CASES["gang-gpus"]
        assert_refused(kube, violating, words)
        assert kube.client.delete(configmap).is_success
        note = {"metadata": {"annotations": {"kubeai.dev/registration": "pending"}}}
        response = kube.client.patch(path, content=json.dumps(note), headers=MERGE_PATCH)
        assert response.is_success, message(response)
        worker = {"spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": 5000}}}}
        response = kube.client.patch(
            path, params=DRY_RUN, content=json.dumps(worker), headers=MERGE_PATCH
        )
        assert response.status_code in (403, 422), response.text
        assert "a gang of 5001 pods exceeds the 500 pods" in message(response)
        assert_refused(kube, CASES["queue"][0], CASES["queue"][1])
    finally:
        assert kube.apply(limits).is_success
