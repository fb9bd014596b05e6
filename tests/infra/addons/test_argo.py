"""infra/addons/argo.py: the release manifests through our overlay (pinned images, namespace,
controller configuration), retained as a CRD installer, artifact repositories."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from infra import versions
from infra.addons import REPO_ROOT, retain_crds
from infra.addons.argo import (
    WORKFLOW_SERVICE_ACCOUNT,
    ArgoWorkflowsArgs,
    artifact_repositories_configmap,
    artifact_repository,
    controller_config,
    overlay_directory,
    s3_endpoint,
)
from infra.addons.artifact_store import ARTIFACT_SECRET
from infra.config import ArgoAddon, ArtifactStore
from tests.infra.factories import store
from tests.support.helm import HelmTools

DIRECTORY = "kubernetes:kustomize/v2:Directory"


def values(config: ArgoAddon, store: dict[str, Any], *, static_credentials: bool) -> dict:
    """The controller ConfigMap's documents, parsed."""
    data = controller_config(config, store, static_credentials=static_credentials)
    return {key: yaml.safe_load(text) for key, text in data.items()}


def rendered(helm_tools: HelmTools, directory: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(helm_tools.kubectl), "kustomize", directory],
        capture_output=True,
        text=True,
        check=True,
        env=helm_tools.env,
        cwd=REPO_ROOT,
    ).stdout
    return [o for o in yaml.safe_load_all(out) if o]


def test_overlay_installs_the_pinned_release_in_the_namespace_with_pinned_images(
    helm_tools: HelmTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    data = controller_config(ArgoAddon(), store("eks"), static_credentials=False)
    objects = rendered(helm_tools, overlay_directory("workflows", data))
    kinds = Counter(o["kind"] for o in objects)
    # manifests/cluster-install at v4.1.2 renders 24 objects, 8 of them the full CRDs.
    assert len(objects) == 24 and kinds["CustomResourceDefinition"] == 8
    crds = {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"}
    assert "workflows.argoproj.io" in crds and "cronworkflows.argoproj.io" in crds
    for obj in objects:
        if obj["kind"] in ("ServiceAccount", "Deployment", "ConfigMap", "Role", "RoleBinding"):
            assert obj["metadata"]["namespace"] == "workflows", obj["metadata"]
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == "workflows", obj["metadata"]["name"]
    images = {}
    for obj in objects:
        if obj["kind"] == "Deployment":
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            images[obj["metadata"]["name"]] = container
    assert images["workflow-controller"]["image"] == "quay.io/argoproj/workflow-controller:v4.1.2"
    assert images["workflow-controller"]["args"] == [
        "--executor-image",
        versions.ARGO_EXECUTOR_IMAGE,
    ]
    assert images["argo-server"]["image"] == "quay.io/argoproj/argocli:v4.1.2"
    assert not any(":latest" in c["image"] for c in images.values())
    (configmap,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert configmap["data"] == data


def test_controller_runs_workflows_as_the_team_executor_account() -> None:
    config = values(ArgoAddon(), store("eks"), static_credentials=False)
    assert config["workflowDefaults"] == {"spec": {"serviceAccountName": WORKFLOW_SERVICE_ACCOUNT}}


def test_artifact_repository_on_s3_uses_sdk_credentials() -> None:
    config = values(ArgoAddon(), store("eks"), static_credentials=False)
    s3 = config["artifactRepository"]["s3"]
    assert s3["bucket"] == "kubeai-prod"
    assert s3["endpoint"] == "s3.us-east-1.amazonaws.com"
    assert s3["insecure"] is False and s3["useSDKCreds"] is True
    assert s3["keyFormat"] == "argo/{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
    assert "accessKeySecret" not in s3


def test_artifact_repository_override_and_static_keys_on_minio() -> None:
    config = ArgoAddon.model_validate({"artifactRepository": {"bucket": "wf", "keyPrefix": "p/q"}})
    s3 = values(config, store("existing"), static_credentials=True)["artifactRepository"]["s3"]
    assert (s3["bucket"], s3["endpoint"], s3["insecure"]) == ("wf", "minio.minio:9000", True)
    assert s3["keyFormat"].startswith("p/q/")
    assert s3["accessKeySecret"]["name"] == s3["secretKeySecret"]["name"] == ARTIFACT_SECRET
    assert "useSDKCreds" not in s3


def test_artifact_repository_on_gcs_has_no_templated_key() -> None:
    config = values(ArgoAddon(), store("gke"), static_credentials=True)
    assert config["artifactRepository"] == {"gcs": {"bucket": "kubeai-prod"}}


def test_s3_endpoint_forms() -> None:
    assert s3_endpoint(ArtifactStore(kind="s3", bucket="b")) == ("s3.amazonaws.com", False)
    assert s3_endpoint(store("ack")) == ("oss-cn-hangzhou.aliyuncs.com", False)


def test_team_configmap_is_argos_default_repository() -> None:
    cm = artifact_repositories_configmap(store("ack"), team="cv", static_credentials=False)
    assert cm["annotations"] == {"workflows.argoproj.io/default-artifact-repository": "default-v1"}
    repository = yaml.safe_load(cm["data"]["default-v1"])
    assert repository == artifact_repository(
        store("ack"), key_format="argo/cv/{{workflow.name}}/{{pod.name}}"
    )


def test_manifests_after_the_namespace_and_retained(platform_run) -> None:
    run = platform_run("eks")
    directory = run.one(DIRECTORY, "argo-manifests")
    assert os.path.basename(directory.inputs["directory"]).startswith("argo-workflows-")
    assert directory.options.retain_on_delete is True
    assert retain_crds in directory.options.transforms
    assert run.waits_for(directory.key, [("kubernetes:core/v1:Namespace", "argo-namespace")])


def test_static_keys_reach_the_controller_configuration(platform_run, monkeypatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    run = platform_run(
        "eks", secrets={"artifactStoreAccessKeyId": "id", "artifactStoreSecretAccessKey": "key"}
    )
    directory = REPO_ROOT / run.one(DIRECTORY, "argo-manifests").inputs["directory"]
    patch = yaml.safe_load((directory / "controller-configmap.yaml").read_text())
    s3 = yaml.safe_load(patch["data"]["artifactRepository"])["s3"]
    assert s3["accessKeySecret"]["name"] == ARTIFACT_SECRET


def test_args_validate() -> None:
    with pytest.raises(ValueError, match="disabled"):
        ArgoWorkflowsArgs(config=ArgoAddon(enabled=False), artifact_store=store("eks")).validate()
    with pytest.raises(ValidationError, match="kind"):
        ArtifactStore.model_validate({"bucket": "b"})  # an artifact store without a kind


def test_old_chart_keys_are_refused_with_their_path() -> None:
    from pydantic import ValidationError

    for key in ("chart", "crdsBaseUrl"):
        with pytest.raises(ValidationError, match=key):
            ArgoAddon.model_validate({key: "x"})
