"""infra/program.py: platform vs team stacks, the StackReference path and the offline path,
cross-stack checks failing with clear errors."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import yaml

from infra.addons import REPO_ROOT
from infra.config import (
    ConfigError,
    PlatformConfig,
    TeamConfig,
    parse_config,
    platform_outputs,
    split_keys,
)
from infra.mocks import RecordingMocks, record_stack, reveal
from infra.program import checked_platform, required_secrets
from tests.infra import crd_schema, factories

STACK_REFERENCE = "pulumi:pulumi:StackReference"


def platform_export(provider: str = "eks", **overrides: object) -> dict:
    config = factories.platform_config(provider, **overrides)
    return {"platform": factories.outputs_of(config).model_dump(by_alias=True)}


def test_team_stack_reads_its_platform_through_a_stack_reference() -> None:
    run = record_stack(factories.team_config(), stack_outputs={"prod-eks": platform_export()})
    (reference,) = run.of_type(STACK_REFERENCE)
    assert reference.name == "prod-eks"
    assert (
        run.one("kubernetes:core/v1:Namespace", "team-namespace").inputs["metadata"]["labels"][
            "kubeai.dev/team"
        ]
        == "cv"
    )
    assert run.exports["team"] == {
        "name": "cv",
        "platformStack": "prod-eks",
        "namespace": "cv",
        "queue": "cv",
        "inferenceServices": ["resnet", "ranker"],
        "datasets": ["imagenet"],
    }


def test_offline_path_needs_no_stack_reference(team_run) -> None:
    run = team_run("eks")
    assert run.of_type(STACK_REFERENCE) == []
    assert run.exports["team"]["namespace"] == "cv"


def test_both_paths_declare_the_same_resources(team_run) -> None:
    offline = team_run("eks")
    online = record_stack(factories.team_config(), stack_outputs={"prod-eks": platform_export()})
    keys = {k for k in online.resources if k[0] != STACK_REFERENCE}
    assert keys == set(offline.resources)


def test_cross_stack_gpu_check_fails_the_update_clearly() -> None:
    small = platform_export(
        "eks",
        nodePools=[
            {
                "name": "gpu",
                "instanceType": "g5.xlarge",
                "gpuType": "nvidia-a10g",
                "gpusPerNode": 1,
                "maxSize": 2,
            }
        ],
    )
    mocks = RecordingMocks({"prod-eks": small})
    with pytest.raises(pulumi.RunError) as caught:
        record_stack(factories.team_config(), mocks=mocks)
    created = {key[0] for key in mocks.resources}
    assert "kubernetes:core/v1:Namespace" not in created  # nothing lands in the cluster
    assert not {t for t in created if "volcano.sh" in t or "helm.sh" in t}
    message = str(caught.value)
    assert "kubeai:quota.gpus" in message
    assert "asks for 4 GPUs" in message and "at most 2" in message
    assert "platform stack 'prod-eks'" in message
    assert "Traceback" not in message


def test_offline_gpu_check_raises_before_any_resource() -> None:
    platform = factories.outputs_of(
        factories.platform_config(
            "eks", nodePools=[{"name": "cpu", "instanceType": "m", "maxSize": 2}]
        )
    )
    mocks = RecordingMocks()
    with pytest.raises(ConfigError, match=r"kubeai:quota\.gpus.*no GPU pools"):
        record_stack(factories.team_config(), platform=platform, mocks=mocks)
    assert mocks.resources == {}


def test_missing_platform_output_is_explained() -> None:
    with pytest.raises(pulumi.RunError, match="exports no 'platform' output"):
        record_stack(factories.team_config(), stack_outputs={"prod-eks": {}})


def test_malformed_platform_output_is_explained() -> None:
    with pytest.raises(pulumi.RunError, match="not a KubeAI platform output"):
        checked_platform(factories.team_config(), {"environment": "prod"})


def test_required_secrets() -> None:
    assert required_secrets(factories.platform_config("eks")) == frozenset()
    postgres = factories.platform_config("eks", glue={"database": "postgresql", "replicas": 2})
    assert required_secrets(postgres) == {"postgresDsn"}
    assert required_secrets(factories.team_config()) == frozenset()


def test_platform_stack_takes_no_platform_outputs() -> None:
    config = factories.platform_config("eks")
    with pytest.raises(ValueError, match="team stacks only"):
        record_stack(config, platform=factories.outputs_of(config))


STACKS = sorted((REPO_ROOT / "stacks").glob("Pulumi.*.yaml"))


def _stack_config(path: Path) -> PlatformConfig | TeamConfig:
    values, _ = split_keys(yaml.safe_load(path.read_text())["config"])
    return parse_config(values)


@pytest.mark.skipif(not STACKS, reason="no stacks/Pulumi.*.yaml yet")
@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name)
def test_every_example_stack_runs_and_validates(path: Path) -> None:
    import kubernetes_validate

    config = _stack_config(path)
    platform = None
    if isinstance(config, TeamConfig):
        platform_file = REPO_ROOT / "stacks" / f"Pulumi.{config.platform_stack.split('/')[-1]}.yaml"
        platform_config = _stack_config(platform_file)
        assert isinstance(platform_config, PlatformConfig)
        platform = platform_outputs(platform_config)
    secrets = {key: f"placeholder-{key}" for key in required_secrets(config)}
    run = record_stack(config, secrets=secrets, platform=platform)
    assert run.resources
    for resource in run.resources.values():
        group = resource.type.split(":")[1] if resource.type.startswith("kubernetes:") else ""
        if not resource.custom or not group or group.startswith(("helm.sh", "yaml", "kustomize")):
            continue
        manifest = reveal(resource.inputs)
        api_group = group.split("/")[0]
        if "." in api_group and api_group != "rbac.authorization.k8s.io":
            assert crd_schema.errors(manifest) == [], resource.name
        else:
            kubernetes_validate.validate(manifest, "1.34.0", strict=True)
