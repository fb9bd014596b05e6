"""infra/addons/triton.py: image pinning, the nvcr.io pull secret, inference service values."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jsonschema
import pytest

from infra import versions
from infra.addons import REPO_ROOT
from infra.addons.artifact_store import checksum
from infra.addons.triton import (
    ImageRef,
    TritonDefaults,
    dockerconfigjson,
    inference_service_values,
)
from infra.config import (
    InferenceServiceConfig,
    PlatformOutputs,
    ServiceAccountConfig,
    Taint,
    Toleration,
    untolerated,
)
from infra.mocks import is_secret, reveal
from tests.infra import factories

SCHEMA = REPO_ROOT / "charts" / "triton-inference" / "values.schema.json"
GPU_TAINT = Taint(key="nvidia.com/gpu", value="present")
SECRET = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"


def defaults(pull_secret: str | None = "nvcr-pull") -> TritonDefaults:
    platform = factories.outputs_of(factories.platform_config("eks"))
    return TritonDefaults.from_platform(platform, pull_secret=pull_secret)


def test_image_ref_parsing() -> None:
    ref = ImageRef.parse(versions.TRITON_IMAGE)
    assert (ref.registry, ref.repository, ref.tag) == (
        "nvcr.io",
        "nvcr.io/nvidia/tritonserver",
        "26.07-py3",
    )
    digest = "sha256:" + "a" * 64
    assert ImageRef.parse(f"localhost:5000/glue@{digest}").values() == {
        "repository": "localhost:5000/glue",
        "tag": "",
        "digest": digest,
    }
    assert ImageRef.parse("library/busybox:1.36").registry == "docker.io"


@pytest.mark.parametrize("image", ["nvcr.io/nvidia/tritonserver", "ghcr.io/x/y:latest"])
def test_unpinned_images_are_refused(image: str) -> None:
    with pytest.raises(ValueError, match="pin"):
        ImageRef.parse(image)


def test_dockerconfigjson_is_an_ngc_api_key_login() -> None:
    content = json.loads(dockerconfigjson("nvcr.io", "key-123"))
    entry = content["auths"]["nvcr.io"]
    assert entry["username"] == "$oauthtoken" and entry["password"] == "key-123"
    assert base64.b64decode(entry["auth"]).decode() == "$oauthtoken:key-123"


def test_defaults_from_platform_outputs() -> None:
    d = defaults()
    assert d.triton_image.repository == "nvcr.io/nvidia/tritonserver"
    assert d.agent_image.values() == {"repository": "ghcr.io/acme/kubeai-glue", "tag": "0.1.0"}
    assert d.registry_url == "http://kubeai-registry.kubeai-system.svc:8080"


def test_gpu_service_values_request_and_tolerate_gpus() -> None:
    service = InferenceServiceConfig(name="resnet", model="resnet50", gpus=1)
    values = inference_service_values(service, defaults())
    assert values["gpu"]["count"] == 1
    tolerations = [Toleration.model_validate(t) for t in values["tolerations"]]
    assert untolerated([GPU_TAINT], tolerations) == []
    assert values["registry"] == {
        "url": "http://kubeai-registry.kubeai-system.svc:8080",
        "service": "resnet",
        "team": "default",
        "initialAssignments": [{"model": "resnet50", "alias": "production"}],
        "token": {"enabled": True, "audience": "kubeai-registry"},
    }
    assert values["imagePullSecrets"] == [{"name": "nvcr-pull"}]
    assert values["podAnnotations"]["kubeai.dev/model"] == "resnet50"


def test_cpu_service_values_have_no_gpu_tolerations() -> None:
    service = InferenceServiceConfig(name="ranker", model="ranker")
    values = inference_service_values(service, defaults(pull_secret=None))
    assert values["gpu"]["count"] == 0 and values["tolerations"] == []
    assert values["imagePullSecrets"] == []


def _walk_keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _walk_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _walk_keys(v)}
    return set()


def test_values_never_assign_model_versions() -> None:
    service = InferenceServiceConfig(name="resnet", model="resnet50", gpus=1)
    keys = _walk_keys(inference_service_values(service, defaults()))
    assert not {k for k in keys if "version" in k.lower()}


@pytest.mark.skipif(not SCHEMA.exists(), reason="charts/triton-inference has no values.schema.json")
@pytest.mark.parametrize("provider", ["existing", "eks", "gke", "ack"])
def test_values_match_the_chart_schema(provider: str) -> None:
    platform = factories.outputs_of(factories.platform_config(provider))
    schema = json.loads(Path(SCHEMA).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    for service in factories.team_config().inference_services:
        for secret in (None, "kubeai-artifact-store"):
            values = inference_service_values(
                service,
                TritonDefaults.from_platform(platform, pull_secret="nvcr-pull"),
                artifact_secret=secret if provider != "gke" else None,
            )
            problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(values)]
            assert problems == []


def test_pull_secret_only_with_an_api_key(team_run) -> None:
    with_key = team_run("eks", secrets={"nvcrApiKey": "ngc-key"})
    secret = with_key.one(SECRET, "team-serving-pull-secret")
    assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert secret.inputs["metadata"] == {"name": "nvcr-pull", "namespace": "cv"}
    assert is_secret(secret.inputs["stringData"])
    content = json.loads(reveal(secret.inputs["stringData"])[".dockerconfigjson"])
    assert content["auths"]["nvcr.io"]["password"] == "ngc-key"
    release = with_key.one(RELEASE, "team-service-resnet")
    assert release.inputs["values"]["imagePullSecrets"] == [{"name": "nvcr-pull"}]
    assert with_key.waits_for(release.key, [secret.key])
    without = team_run("eks")
    assert "team-serving-pull-secret" not in {r.name for r in without.of_type(SECRET)}
    assert without.one(RELEASE, "team-service-resnet").inputs["values"]["imagePullSecrets"] == []


def test_identity_pull_secrets_and_checksums_reach_the_chart() -> None:
    platform = factories.outputs_of(
        factories.platform_config("eks", glue={"imagePullSecrets": ["glue-pull", "nvcr-pull"]})
    )
    assert platform.glue_image_pull_secrets == ["glue-pull", "nvcr-pull"]
    role = "arn:aws:iam::123456789012:role/kubeai-serving"
    account = ServiceAccountConfig.model_validate({"workloadIdentity": {"awsRoleArn": role}})
    digest = checksum({"access-key-id": "a", "secret-access-key": "b"})
    values = inference_service_values(
        factories.team_config().inference_services[1],
        TritonDefaults.from_platform(platform, pull_secret="nvcr-pull"),
        service_account=account,
        pull_secrets=["team-pull", "glue-pull"],
        checksums={"artifact-store": digest},
    )
    # nvcr.io first, then the platform's glue secrets, then the team's; each name once.
    assert values["imagePullSecrets"] == [
        {"name": "nvcr-pull"},
        {"name": "glue-pull"},
        {"name": "team-pull"},
    ]
    assert values["serviceAccount"] == {"annotations": {"eks.amazonaws.com/role-arn": role}}
    assert values["checksums"] == {"artifact-store": digest}
    assert "podLabels" not in values
    schema = json.loads(Path(SCHEMA).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [e.message for e in validator.iter_errors(values)] == []


def test_platform_outputs_without_glue_pull_secrets_still_parse() -> None:
    exported = factories.outputs_of(factories.platform_config("eks")).model_dump(by_alias=True)
    exported.pop("glueImagePullSecrets")
    assert PlatformOutputs.model_validate(exported).glue_image_pull_secrets == []


def test_agents_present_a_token_of_the_platforms_registry_audience() -> None:
    """The agents' ``registry.token`` follows the platform's exported audience; with none (a
    registry that reviews no ServiceAccount tokens, or an older platform export) no token."""
    service = InferenceServiceConfig(name="ranker", model="ranker")
    platform = factories.outputs_of(factories.platform_config("eks"))
    custom = platform.model_copy(update={"registry_audience": "registry.example"})
    values = inference_service_values(
        service, TritonDefaults.from_platform(custom, pull_secret=None), team="cv"
    )
    assert values["registry"]["token"] == {"enabled": True, "audience": "registry.example"}
    assert values["registry"]["team"] == "cv"
    legacy = PlatformOutputs.model_validate(
        platform.model_dump(by_alias=True, exclude={"registry_audience"})
    )
    assert legacy.registry_audience is None
    values = inference_service_values(
        service, TritonDefaults.from_platform(legacy, pull_secret=None)
    )
    assert values["registry"]["token"] == {"enabled": False}
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(values, schema)
