"""The lifecycle controller turns finished training jobs into registry versions, exactly once.

On the session's control plane: the pinned CRDs of the training operator (PyTorchJob), Volcano
(batch Job) and Fluid (Dataset) are applied; the controller (``python -m glue.controller``, a
subprocess) runs as the ServiceAccount ``ctl-system/controller`` with exactly the ClusterRole the
chart grants (``CONTROLLER_RULES``) and a Role for its Lease; the registry runs on loopback in
this process (uvicorn thread, SQLite, a local artifact root shared with the "training jobs")
with TokenReview authentication against the plane, the controller being a ``controllers``
entry. The controller's registry token is a TokenRequest token with audience
``kubeai-registry``, as the kubelet projects it.

No training operator runs here, and no job's pods run: the test writes each job's status as the
operator would (through the ``status`` subresource: the training operator's ``Succeeded``/
``Failed`` conditions with ``completionTime``; for the batch/v1 Job, ``spec.managedBy`` names an
external controller so the built-in Job controller leaves it alone, and the test writes
``SuccessCriteriaMet``/``Complete`` as the apiserver's validation requires). Building the training
operator was not attempted: the Go module proxy serves only v1.8.1 (we pin v1.9.4), a build of
its controller-runtime tree takes far longer on this 2-core machine than this file's budget, and
it would drive only the status this test writes itself. Each job writes its output where the
controller's convention says (``<root>/teams/<team>/models/<model>/jobs/<uid>/``) before its
status turns final, as a training container does before it exits.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.controller import kube as controller_kube
from glue.controller.jobs import (
    ARTIFACT_URI_ANNOTATION,
    MODEL_LABEL,
    MODEL_VERSION_ANNOTATION,
    OUTCOME_ANNOTATION,
    default_artifact_uri,
)
from glue.controller.leader import LeaderElector
from glue.controller.operator import PROGRESS_PREFIX
from glue.kubeconfig import KubeConnection
from glue.model_registry.auth.settings import AuthSettings, KubernetesAuth
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import publish_dataset
from infra import upstream
from infra.controlplane.harness import ControlPlane
from tests.support.kubeapi import KubeApi, bearer, message, token_request
from tests.support.net import free_port, wait_http
from tests.support.registry import CLIENT_TIMEOUT, RegistryServer, registry_settings

TEAM = "ctlteam"
SYSTEM = "ctl-system"
REGISTRY_NS = "ctlreg"
TEAM_LABEL = "kubeai.dev/team"
AUDIENCE = "kubeai-registry"
MODEL = "digits"
DATASET = "digits-data"
DIGEST = "sha256:" + "ab" * 32
CRD_FILES = (
    "training-operator/v1.9.4/kubeflow.org_pytorchjobs.yaml",
    "volcano/v1.15.1/batch.volcano.sh_jobs.yaml",
    "fluid/v1.0.8/data.fluid.io_datasets.yaml",
)
#: The controller's cluster-wide rights: exactly the brief's least-privilege list.
CONTROLLER_RULES = [
    {
        "apiGroups": ["kubeflow.org"],
        "resources": ["pytorchjobs", "tfjobs", "xgboostjobs", "mpijobs"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "patch"]},
    {
        "apiGroups": ["batch.volcano.sh"],
        "resources": ["jobs"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {"apiGroups": ["data.fluid.io"], "resources": ["datasets"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": [""],
        "resources": ["namespaces", "persistentvolumeclaims"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]
LEASE_RULES = [
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update"],
    }
]
CONFIG = """name: "{name}"
backend: "python"
max_batch_size: 8
input [ {{ name: "IMAGE" data_type: TYPE_FP32 dims: [ 64 ] }} ]
output [ {{ name: "LABEL" data_type: TYPE_INT64 dims: [ 1 ] }} ]
"""


def _create(kube: KubeApi, manifest: dict[str, Any]) -> dict[str, Any]:
    meta = manifest["metadata"]
    path = kube.path(manifest["apiVersion"], manifest["kind"], namespace=meta.get("namespace"))
    response = kube.client.post(path, json=manifest)
    if response.status_code == 409:
        response = kube.client.get(f"{path}/{meta['name']}")
    assert response.is_success, message(response)
    return dict(response.json())


def _rbac(kind: str, name: str, namespace: str | None, rules: list[Any]) -> list[dict[str, Any]]:
    """A (Cluster)Role with ``rules`` and its binding to the controller's account."""
    role_meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    binding = "RoleBinding" if kind == "Role" else "ClusterRoleBinding"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": role_meta,
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": binding,
            "metadata": role_meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "controller", "namespace": SYSTEM}],
        },
    ]


def controller_kubeconfig(control_plane: ControlPlane, token: str) -> str:
    """A kubeconfig (YAML) for the controller: the plane's server and CA, ``token``."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "ctl",
            "contexts": [{"name": "ctl", "context": {"cluster": "p", "user": "ctl"}}],
            "clusters": [
                {
                    "name": "p",
                    "cluster": {
                        "server": control_plane.server,
                        "certificate-authority": str(control_plane.ca_cert),
                    },
                }
            ],
            "users": [{"name": "ctl", "user": {"token": token}}],
        }
    )


@dataclass
class Controller:
    """The controller subprocess: start, stop (SIGTERM) or kill (SIGKILL), its log."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "glue.controller"], env=self.env, stdout=out, stderr=out
        )
        wait_http(f"http://127.0.0.1:{self.env['KUBEAI_CONTROLLER_HEALTH_PORT']}/healthz")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.process = None
        return code

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@dataclass
class World:
    """What the tests use: the admin API, the registry, the controller, the artifact store."""

    kube: KubeApi
    registry: RegistryServer
    registry_token: str
    controller: Controller
    store: ArtifactStore
    root: str

    def client(self) -> RegistryClient:
        return RegistryClient(
            self.registry.url, team=TEAM, timeout=CLIENT_TIMEOUT, token=self.registry_token
        )


def prepare_cluster(kube: KubeApi) -> None:
    """The pinned CRDs, the team, controller and registry namespaces and accounts, the
    controller's RBAC, the registry's ``system:auth-delegator`` binding and the Fluid Dataset."""
    crds = [yaml.safe_load((upstream.ensure("crds") / name).read_text()) for name in CRD_FILES]
    kube.apply_all(crds)
    kube.wait_established([crd["metadata"]["name"] for crd in crds])
    for name, labels in ((TEAM, {TEAM_LABEL: TEAM}), (SYSTEM, {}), (REGISTRY_NS, {})):
        meta = {"name": name, "labels": labels}
        _create(kube, {"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    for namespace, account in ((SYSTEM, "controller"), (REGISTRY_NS, "registry")):
        meta = {"name": account, "namespace": namespace}
        _create(kube, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
    kube.apply_all(
        [
            *_rbac("ClusterRole", "ctl-controller", None, CONTROLLER_RULES),
            *_rbac("Role", "ctl-controller-lease", SYSTEM, LEASE_RULES),
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "ctlreg-auth-delegator"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:auth-delegator",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "registry", "namespace": REGISTRY_NS}
                ],
            },
        ]
    )
    _create(
        kube,
        {
            "apiVersion": "data.fluid.io/v1alpha1",
            "kind": "Dataset",
            "metadata": {"name": DATASET, "namespace": TEAM},
            "spec": {"mounts": [{"name": "digits", "mountPoint": "https://data.invalid/d"}]},
        },
    )


def write_credentials(kube: KubeApi, control_plane: ControlPlane, tmp: Path) -> str:
    """Write ``registry-token`` (the registry's TokenReview credential),
    ``ctl-registry-token`` (the controller's registry token, audience kubeai-registry) and
    ``controller.kubeconfig`` below ``tmp``; returns the controller's registry token."""
    (tmp / "registry-token").write_text(token_request(kube, REGISTRY_NS, "registry", seconds=3600))
    ctl_registry_token = token_request(
        kube, SYSTEM, "controller", audiences=[AUDIENCE], seconds=3600
    )
    (tmp / "ctl-registry-token").write_text(ctl_registry_token)
    (tmp / "controller.kubeconfig").write_text(
        controller_kubeconfig(control_plane, token_request(kube, SYSTEM, "controller"))
    )
    return ctl_registry_token


def controller_env(*, tmp: Path, registry_url: str, artifacts: Path) -> dict[str, str]:
    """The controller's environment, with the files of ``write_credentials`` below ``tmp``;
    ``KUBEAI_CONTROLLER_METRICS_PORT`` is a free loopback port."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "HOME": str(tmp),
        "KUBECONFIG": str(tmp / "controller.kubeconfig"),
        "KUBEAI_CONTROLLER_REGISTRY_URL": registry_url,
        "KUBEAI_CONTROLLER_REGISTRY_TOKEN_FILE": str(tmp / "ctl-registry-token"),
        "KUBEAI_CONTROLLER_TEAM_LABEL": TEAM_LABEL,
        "KUBEAI_CONTROLLER_LEASE_NAMESPACE": SYSTEM,
        "KUBEAI_CONTROLLER_IDENTITY": "controller-0",
        "KUBEAI_CONTROLLER_METRICS_PORT": str(free_port()),
        "KUBEAI_CONTROLLER_HEALTH_PORT": str(free_port()),
        "KUBEAI_CONTROLLER_BIND_ADDRESS": "127.0.0.1",
        "KUBEAI_CONTROLLER_ARTIFACTS__LOCAL_ROOT": str(artifacts),
    }


def publish_digits_dataset(store: ArtifactStore, client: RegistryClient, tmp: Path) -> None:
    """Register the Fluid Dataset's data (one CSV row) in the registry as ``DATASET``."""
    data = tmp / "dataset"
    data.mkdir()
    (data / "digits.csv").write_text("0,1\n")
    publish_dataset(
        store=store,
        registry=client,
        source_dir=data,
        uri=store.local_uri("datasets", DATASET),
        name=DATASET,
        team=TEAM,
        rows=1,
    )


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """CRDs, namespaces, RBAC, the registry and a running controller."""
    tmp = tmp_path_factory.mktemp("controller")
    with control_plane.client(timeout=60.0) as admin:
        kube = KubeApi(admin)
        prepare_cluster(kube)
        ctl_registry_token = write_credentials(kube, control_plane, tmp)
        artifacts = tmp / "artifacts"
        artifacts.mkdir()
        settings = registry_settings(tmp).model_copy(
            update={
                "auth": AuthSettings(
                    kubernetes=KubernetesAuth(
                        enabled=True,
                        api_server=control_plane.server,
                        ca_file=control_plane.ca_cert,
                        token_file=tmp / "registry-token",
                    ),
                    controllers=[f"{SYSTEM}/controller"],
                )
            }
        )
        registry = RegistryServer(settings).start()
        env = {
            **controller_env(tmp=tmp, registry_url=registry.url, artifacts=artifacts),
            "KUBEAI_CONTROLLER_RETRY_INITIAL": "1",
            "KUBEAI_CONTROLLER_RETRY_MAX": "2",
            "KUBEAI_CONTROLLER_LEASE_DURATION": "6",
            "KUBEAI_CONTROLLER_RENEW_PERIOD": "1",
        }
        controller = Controller(env=env, log=tmp / "controller.log")
        store = ArtifactStore(ArtifactSettings(local_root=artifacts))
        world = World(
            kube=kube,
            registry=registry,
            registry_token=ctl_registry_token,
            controller=controller,
            store=store,
            root="file://" + str(artifacts.resolve()),
        )
        with world.client() as client:
            publish_digits_dataset(store, client, tmp)
        controller.start()
        try:
            yield world
        finally:
            if controller.process is not None:
                controller.stop()
            registry.stop()


def _pod_spec(image: str) -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "pytorch",
                "image": image,
                "env": [{"name": "KUBEAI_PARAM_LR", "value": "0.01"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": DATASET}}],
    }


def pytorchjob(name: str) -> dict[str, Any]:
    """A stock PyTorchJob with the one label, mounting the Fluid dataset's PVC."""
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": TEAM, "labels": {MODEL_LABEL: MODEL}},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "restartPolicy": "OnFailure",
                    "template": {"spec": _pod_spec(f"registry.invalid/train@{DIGEST}")},
                }
            }
        },
    }


def batch_job(name: str) -> dict[str, Any]:
    """A batch/v1 Job managed by an external controller (the test writes its status)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": TEAM, "labels": {MODEL_LABEL: MODEL}},
        "spec": {
            "managedBy": "kubeai.dev/test-writes-status",
            "template": {"spec": _pod_spec("registry.invalid/train:1.0")},
        },
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_output(world: World, job: dict[str, Any], *, accuracy: float) -> None:
    """The job's output at the conventional URI: a Triton model directory and metrics.json."""
    write_job_output(world.root, job, accuracy=accuracy)


def write_job_output(root: str, job: dict[str, Any], *, accuracy: float) -> None:
    """``write_output`` below the artifact root ``root`` (a ``file://`` URI)."""
    meta = job["metadata"]
    base = default_artifact_uri(root=root, team=TEAM, model=MODEL, uid=meta["uid"])
    local = Path(base.removeprefix("file://"))
    (local / "model" / "1").mkdir(parents=True)
    (local / "model" / "config.pbtxt").write_text(CONFIG.format(name=MODEL))
    (local / "model" / "1" / "model.py").write_text(f"# trained by {meta['name']}\n")
    (local / "metrics.json").write_text(json.dumps({"accuracy": accuracy}))


def finish(world: World, job: dict[str, Any], *, succeeded: bool) -> None:
    """Write the final status as the job's controller would."""
    path = world.kube.object_path(job) + "/status"
    body = {**job, "status": final_status(job, succeeded=succeeded)}
    response = world.kube.client.put(path, json=body)
    assert response.is_success, message(response)


def final_status(job: dict[str, Any], *, succeeded: bool) -> dict[str, Any]:
    """The final ``status`` of a PyTorchJob or batch Job, as its controller writes it."""
    now = _now()
    status: dict[str, Any]
    if job["kind"] == "PyTorchJob":
        final = "Succeeded" if succeeded else "Failed"
        status = {
            "startTime": now,
            "completionTime": now,
            "replicaStatuses": {"Master": {"succeeded" if succeeded else "failed": 1}},
            "conditions": [
                {"type": "Created", "status": "True", "lastTransitionTime": now},
                {
                    "type": final,
                    "status": "True",
                    "reason": f"PyTorchJob{final}",
                    "message": f"PyTorchJob {job['metadata']['name']} is {final.lower()}.",
                    "lastTransitionTime": now,
                },
            ],
        }
    else:
        condition = {"status": "True", "lastTransitionTime": now, "lastProbeTime": now}
        status = {
            "startTime": now,
            "completionTime": now,
            "succeeded": 1,
            "conditions": [
                {**condition, "type": "SuccessCriteriaMet", "reason": "CompletionsReached"},
                {**condition, "type": "Complete", "reason": "CompletionsReached"},
            ],
        }
    return status


def submit(world: World, manifest: dict[str, Any]) -> dict[str, Any]:
    return _create(world.kube, manifest)


def get(world: World, job: dict[str, Any]) -> dict[str, Any]:
    response = world.kube.client.get(world.kube.object_path(job))
    assert response.is_success, message(response)
    return dict(response.json())


def eventually(world: World, check: Callable[[], Any], *, what: str, seconds: float = 45.0) -> Any:
    """``check()`` polled until truthy; fails with the controller's log after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(
        f"{what} not seen within {seconds:.0f} s; controller log:\n{world.controller.tail()}"
    )


def annotated(world: World, job: dict[str, Any]) -> Callable[[], dict[str, str] | None]:
    def check() -> dict[str, str] | None:
        annotations = get(world, job)["metadata"].get("annotations") or {}
        return annotations if OUTCOME_ANNOTATION in annotations else None

    return check


def events(world: World, job: dict[str, Any]) -> list[dict[str, Any]]:
    uid = job["metadata"]["uid"]
    response = world.kube.client.get(
        f"/api/v1/namespaces/{TEAM}/events", params={"fieldSelector": f"involvedObject.uid={uid}"}
    )
    assert response.is_success, message(response)
    return list(response.json()["items"])


def versions_of(world: World, uid: str) -> list[Any]:
    with world.client() as client:
        return list(client.list_versions(MODEL, source_uid=uid).items)


def assert_clean(job: dict[str, Any]) -> None:
    """No finalizer and no kopf bookkeeping left on a user's job."""
    meta = job["metadata"]
    assert not meta.get("finalizers")
    leftovers = [k for k in meta.get("annotations") or {} if "kopf" in k]
    assert leftovers == []


def test_succeeded_pytorchjob_is_registered_once_with_lineage(world: World) -> None:
    job = submit(world, pytorchjob("train-1"))
    write_output(world, job, accuracy=0.97)
    started = time.monotonic()
    finish(world, job, succeeded=True)
    annotations = eventually(world, annotated(world, job), what="the outcome annotation")
    lag = time.monotonic() - started
    assert annotations[OUTCOME_ANNOTATION] == "Registered"
    (version,) = versions_of(world, job["metadata"]["uid"])
    assert annotations[MODEL_VERSION_ANNOTATION] == str(version.version)
    assert version.source.model_dump() == {
        "kind": "PyTorchJob",
        "namespace": TEAM,
        "name": "train-1",
        "uid": job["metadata"]["uid"],
    }
    assert version.dataset == DATASET  # through the PVC the job mounts
    assert version.metrics == {"accuracy": 0.97}
    assert version.params["lr"] == "0.01"
    assert version.params["image.master.pytorch"] == f"registry.invalid/train@{DIGEST}"
    assert version.params["images-pinned"] == "true"
    assert version.created_by == f"system:serviceaccount:{SYSTEM}:controller"
    registered = eventually(
        world,
        lambda: [e for e in events(world, job) if e["reason"] == "Registered"],
        what="the Registered event",
    )
    assert registered[0]["type"] == "Normal"
    assert f"version {version.version}" in registered[0]["message"]
    assert_clean(get(world, job))
    print(f"\nPyTorchJob Succeeded -> annotated in {lag:.2f} s")


def test_a_batch_job_is_registered_and_unpinned_images_are_flagged(world: World) -> None:
    job = submit(world, batch_job("train-batch"))
    write_output(world, job, accuracy=0.9)
    finish(world, job, succeeded=True)
    annotations = eventually(world, annotated(world, job), what="the outcome annotation")
    assert annotations[OUTCOME_ANNOTATION] == "Registered"
    (version,) = versions_of(world, job["metadata"]["uid"])
    assert version.source.kind == "Job"
    assert version.params["image.job.pytorch"] == "registry.invalid/train:1.0"
    assert version.params["images-pinned"] == "false"


def test_replay_and_restart_in_the_middle_make_no_second_version(world: World) -> None:
    first = get(world, submit(world, pytorchjob("train-1")))  # registered by the first test
    before = versions_of(world, first["metadata"]["uid"])
    assert len(before) == 1
    world.controller.stop(signal.SIGKILL)
    # as if the controller died after registering and before recording the outcome
    patch = {
        "metadata": {"annotations": {OUTCOME_ANNOTATION: None, MODEL_VERSION_ANNOTATION: None}}
    }
    response = world.kube.client.patch(
        world.kube.object_path(first),
        content=json.dumps(patch),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.is_success, message(response)
    second = submit(world, pytorchjob("train-2"))
    write_output(world, second, accuracy=0.98)
    finish(world, second, succeeded=True)  # while no controller runs
    world.controller.start()  # the Lease of the killed one must expire first
    for job in (first, second):
        annotations = eventually(world, annotated(world, job), what="the outcome annotation")
        (version,) = versions_of(world, job["metadata"]["uid"])
        assert annotations[MODEL_VERSION_ANNOTATION] == str(version.version)
    assert [v.version for v in versions_of(world, first["metadata"]["uid"])] == [
        v.version for v in before
    ]


def test_registry_outage_in_the_middle_registers_once_afterwards(world: World) -> None:
    world.registry.stop()
    try:
        job = submit(world, pytorchjob("train-3"))
        write_output(world, job, accuracy=0.99)
        finish(world, job, succeeded=True)

        def retrying() -> bool:
            annotations = get(world, job)["metadata"].get("annotations") or {}
            return any(k.startswith(PROGRESS_PREFIX + "/") for k in annotations)

        eventually(world, retrying, what="kopf's pending-retry state on the job")
        assert OUTCOME_ANNOTATION not in (get(world, job)["metadata"].get("annotations") or {})
    finally:
        world.registry.start()
    annotations = eventually(world, annotated(world, job), what="the outcome annotation")
    (version,) = versions_of(world, job["metadata"]["uid"])
    assert annotations[MODEL_VERSION_ANNOTATION] == str(version.version)
    assert_clean(get(world, job))


def test_a_failed_job_gets_an_event_and_no_version(world: World) -> None:
    job = submit(world, pytorchjob("train-broken"))
    finish(world, job, succeeded=False)
    annotations = eventually(world, annotated(world, job), what="the outcome annotation")
    assert annotations[OUTCOME_ANNOTATION] == "TrainingFailed"
    assert MODEL_VERSION_ANNOTATION not in annotations
    assert versions_of(world, job["metadata"]["uid"]) == []
    failed = eventually(
        world,
        lambda: [e for e in events(world, job) if e["reason"] == "TrainingFailed"],
        what="the TrainingFailed event",
    )
    assert failed[0]["type"] == "Warning" and "PyTorchJobFailed" in failed[0]["message"]


def test_only_one_candidate_holds_the_lease(world: World, control_plane: ControlPlane) -> None:
    """Two electors on one Lease with the controller's rights: one leads, the other follows
    until the first releases it."""
    token = token_request(world.kube, SYSTEM, "controller")
    connection = KubeConnection(
        server=control_plane.server,
        context="test",
        namespace=SYSTEM,
        verify=ssl.create_default_context(cafile=str(control_plane.ca_cert)),
        token=token,
    )
    with (
        controller_kube.client(connection) as a_client,
        controller_kube.client(connection) as b_client,
    ):
        a, b = (
            LeaderElector(
                client=client,
                namespace=SYSTEM,
                name="ctl-test-lease",
                identity=identity,
                lease_duration=6,
                renew_period=1,
            )
            for client, identity in ((a_client, "a"), (b_client, "b"))
        )
        assert a.try_acquire_or_renew() is True
        assert b.try_acquire_or_renew() is False
        assert a.try_acquire_or_renew() is True  # renewal
        assert b.try_acquire_or_renew() is False
        a.release()
        assert b.try_acquire_or_renew() is True
        assert a.try_acquire_or_renew() is False
        lease = a_client.get(a.path).json()["spec"]
        assert lease["holderIdentity"] == "b" and lease["leaseTransitions"] == 1
    # and the rights are exactly as listed: the controller may not read Secrets or pods
    with bearer(control_plane, token) as as_controller:
        assert as_controller.get(f"/api/v1/namespaces/{TEAM}/secrets").status_code == 403
        assert as_controller.get(f"/api/v1/namespaces/{TEAM}/pods").status_code == 403


def test_bad_input_is_refused_with_an_event_naming_the_field(world: World) -> None:
    manifest = pytorchjob("train-bad-params")
    manifest["metadata"]["annotations"] = {"kubeai.dev/params": "{not json"}
    job = submit(world, manifest)
    write_output(world, job, accuracy=0.5)
    finish(world, job, succeeded=True)
    annotations = eventually(world, annotated(world, job), what="the outcome annotation")
    assert annotations[OUTCOME_ANNOTATION] == "RegistrationFailed"
    assert versions_of(world, job["metadata"]["uid"]) == []
    refused = eventually(
        world,
        lambda: [e for e in events(world, job) if e["reason"] == "RegistrationFailed"],
        what="the RegistrationFailed event",
    )
    assert refused[0]["type"] == "Warning"
    assert "metadata.annotations.kubeai.dev/params" in refused[0]["message"]
    assert_clean(get(world, job))


def test_an_output_of_another_team_is_refused_naming_the_annotation(world: World) -> None:
    """The trial's forgery: a job annotated with another team's output (present and readable
    with the controller's credentials) gets no version."""
    other = default_artifact_uri(root=world.root, team="other", model=MODEL, uid="uid-1")
    local = Path(other.removeprefix("file://"))
    (local / "model" / "1").mkdir(parents=True)
    (local / "model" / "config.pbtxt").write_text(CONFIG.format(name=MODEL))
    (local / "model" / "1" / "model.py").write_text("# another team's model\n")
    manifest = pytorchjob("train-forged")
    manifest["metadata"]["annotations"] = {ARTIFACT_URI_ANNOTATION: other}
    job = submit(world, manifest)
    finish(world, job, succeeded=True)
    annotations = eventually(world, annotated(world, job), what="the outcome annotation")
    assert annotations[OUTCOME_ANNOTATION] == "RegistrationFailed"
    assert versions_of(world, job["metadata"]["uid"]) == []
    refused = eventually(
        world,
        lambda: [e for e in events(world, job) if e["reason"] == "RegistrationFailed"],
        what="the RegistrationFailed event",
    )
    message = refused[0]["message"]
    assert f"metadata.annotations.{ARTIFACT_URI_ANNOTATION}" in message
    assert f"{world.root}/teams/{TEAM}/" in message
