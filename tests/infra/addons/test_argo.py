"""infra/addons/argo.py: pinned full CRDs (retained), chart values, ordering, artifacts."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from infra import versions
from infra.addons import retain_crds
from infra.addons.argo import (
    WORKFLOW_SERVICE_ACCOUNT,
    ArgoWorkflowsArgs,
    argo_values,
    artifact_repositories_configmap,
    artifact_repository,
    crd_urls,
    s3_endpoint,
)
from infra.addons.artifact_store import ARTIFACT_SECRET
from infra.config import ArgoAddon, ArtifactStore
from tests.infra.crd_schema import CRDS_DIR
from tests.infra.factories import store

CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"


def test_crd_urls_cover_every_argo_crd_at_the_pinned_tag() -> None:
    urls = crd_urls("https://raw.githubusercontent.com/argoproj/argo-workflows/")
    prefix = (
        "https://raw.githubusercontent.com/argoproj/argo-workflows/"
        f"{versions.ARGO_CRDS.version}/manifests/base/crds/full/"
    )
    assert all(u.startswith(prefix) for u in urls)
    files = {u.removeprefix(prefix) for u in urls}
    assert files == set(versions.ARGO_CRD_FILES)
    upstream = CRDS_DIR / "argo-workflows" / versions.ARGO_CRDS.version
    if upstream.is_dir():
        assert files == {p.name for p in upstream.glob("*.yaml")}


def test_values_leave_crds_and_workflow_rbac_to_us() -> None:
    values = argo_values(ArgoAddon(), store("eks"), static_credentials=False)
    assert values["crds"] == {"install": False}
    assert values["controller"]["workflowNamespaces"] == []
    assert values["controller"]["workflowDefaults"]["spec"]["serviceAccountName"] == (
        WORKFLOW_SERVICE_ACCOUNT
    )
    assert values["workflow"] == {"serviceAccount": {"create": False}, "rbac": {"create": False}}
    assert values["singleNamespace"] is False


def test_artifact_repository_on_s3_uses_sdk_credentials() -> None:
    values = argo_values(ArgoAddon(), store("eks"), static_credentials=False)
    s3 = values["artifactRepository"]["s3"]
    assert s3["bucket"] == "kubeai-prod"
    assert s3["endpoint"] == "s3.us-east-1.amazonaws.com"
    assert s3["insecure"] is False and s3["useSDKCreds"] is True
    assert s3["keyFormat"] == "argo/{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
    assert values["useStaticCredentials"] is False


def test_artifact_repository_override_and_static_keys_on_minio() -> None:
    config = ArgoAddon.model_validate({"artifactRepository": {"bucket": "wf", "keyPrefix": "p/q"}})
    values = argo_values(config, store("existing"), static_credentials=True)
    s3 = values["artifactRepository"]["s3"]
    assert (s3["bucket"], s3["endpoint"], s3["insecure"]) == ("wf", "minio.minio:9000", True)
    assert s3["keyFormat"].startswith("p/q/")
    assert s3["accessKeySecret"]["name"] == s3["secretKeySecret"]["name"] == ARTIFACT_SECRET
    assert values["useStaticCredentials"] is True


def test_artifact_repository_on_gcs_has_no_templated_key() -> None:
    values = argo_values(ArgoAddon(), store("gke"), static_credentials=True)
    assert values["artifactRepository"] == {"gcs": {"bucket": "kubeai-prod"}}
    assert values["useStaticCredentials"] is False


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


def test_release_after_retained_crds(platform_run) -> None:
    run = platform_run("eks")
    crds = run.one(CONFIG_GROUP, "argo-crds")
    assert crds.inputs["files"] == crd_urls(ArgoAddon().crds_base_url)
    assert crds.options.retain_on_delete is True
    assert retain_crds in crds.options.transforms
    release = run.one(RELEASE, "argo-release")
    assert run.waits_for(release.key, [crds.key])
    assert release.inputs["chart"] == versions.ARGO_WORKFLOWS.name
    assert release.inputs["version"] == versions.ARGO_WORKFLOWS.version
    assert release.inputs["skipCrds"] is True
    assert release.inputs["values"]["crds"]["install"] is False


def test_crds_from_a_mirror(platform_run) -> None:
    run = platform_run("eks", addons={"argo": {"crdsBaseUrl": "https://mirror.example/argo"}})
    files = run.one(CONFIG_GROUP, "argo-crds").inputs["files"]
    assert all(f.startswith("https://mirror.example/argo/v4.1.2/") for f in files)


def test_static_keys_reach_the_chart(platform_run) -> None:
    run = platform_run(
        "eks", secrets={"artifactStoreAccessKeyId": "id", "artifactStoreSecretAccessKey": "key"}
    )
    assert run.one(RELEASE, "argo-release").inputs["values"]["useStaticCredentials"] is True


def test_args_validate() -> None:
    with pytest.raises(ValueError, match="crdsBaseUrl"):
        ArgoWorkflowsArgs(
            config=ArgoAddon(crds_base_url="ftp://x"), artifact_store=store("eks")
        ).validate()
    with pytest.raises(ValidationError, match="kind"):
        ArtifactStore.model_validate({"bucket": "b"})  # an artifact store without a kind
