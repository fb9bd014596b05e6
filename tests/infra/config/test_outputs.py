"""infra/config/outputs.py: the platform stack's exports and where its model registry answers."""

from __future__ import annotations

import pytest

from infra.addons.model_registry import FULLNAME, NAMESPACE, glue_values
from infra.config import (
    REGISTRY_PORT,
    ArtifactStore,
    PlatformOutputs,
    platform_outputs,
    registry_url,
)
from tests.infra import factories


def test_registry_url_is_built_from_the_add_on_constants() -> None:
    assert registry_url() == f"http://{FULLNAME}-registry.{NAMESPACE}.svc:{REGISTRY_PORT}"
    assert registry_url("ml") == f"http://{FULLNAME}-registry.ml.svc:{REGISTRY_PORT}"
    config = factories.platform_config("eks")
    assert glue_values(config.glue, config.artifact_store)["fullnameOverride"] == FULLNAME


@pytest.mark.parametrize("provider", ["existing", "eks", "gke", "ack"])
def test_the_artifact_store_is_exported_without_unset_fields(provider: str) -> None:
    config = factories.platform_config(provider, triton={"imagePullSecret": None})
    outputs = platform_outputs(config)
    assert isinstance(outputs.artifact_store, ArtifactStore)
    exported = outputs.model_dump(by_alias=True)
    assert exported["artifactStore"] == factories.STORES[provider]
    assert exported["tritonImagePullSecret"] is None  # only the store leaves unset fields out


def test_outputs_read_back_through_a_stack_reference() -> None:
    outputs = platform_outputs(factories.platform_config("ack"))
    exported = {**outputs.model_dump(by_alias=True), "addedByANewerPlatform": 1}
    assert PlatformOutputs.model_validate(exported) == outputs


def _without_nulls(value: object) -> object:
    """What the engine makes of an output: null values dropped at every depth."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize("provider", ["existing", "eks", "gke", "ack"])
def test_outputs_read_back_after_the_engine_dropped_their_nulls(provider: str) -> None:
    """The real engine drops null values from stack outputs: the local platform's
    ``tritonImagePullSecret: null`` arrived as a missing key and every team stack failed."""
    config = factories.platform_config(provider, triton={"imagePullSecret": None})
    outputs = platform_outputs(config)
    exported = _without_nulls(outputs.model_dump(by_alias=True))
    assert "tritonImagePullSecret" not in exported  # type: ignore[operator]
    assert PlatformOutputs.model_validate(exported) == outputs


def test_the_queue_policy_is_exported_and_older_outputs_read_as_proportion() -> None:
    """Platform stacks exported before ``queuePolicy`` existed ran the proportion plugin."""
    config = factories.platform_config("eks", addons={"volcano": {"queuePolicy": "capacity"}})
    exported = platform_outputs(config).model_dump(by_alias=True)
    assert exported["queuePolicy"] == "capacity"
    older = {k: v for k, v in exported.items() if k != "queuePolicy"}
    assert PlatformOutputs.model_validate(older).queue_policy == "proportion"
