"""infra/addons/fluid.py: runtimes, GPU-tolerant CSI plugin, the pinned retained Release."""

from __future__ import annotations

import pytest

from infra import versions
from infra.addons.fluid import CONTROLLER_PARTS, ENGINES, FluidArgs, fluid_values
from infra.config import FluidAddon, Taint, Toleration
from tests.infra import factories
from tests.infra.conftest import NAMESPACE, RELEASE

GPU_TAINT = Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")


def test_runtime_engines_enabled_from_config() -> None:
    values = fluid_values(FluidAddon(runtimes=["juicefs", "thin"]), namespace="fluid-system")
    assert set(values["runtime"]) == set(ENGINES)
    enabled = {engine for engine, v in values["runtime"].items() if v["enabled"]}
    assert enabled == {"juicefs", "thin"}
    assert values["namespace"] == "fluid-system"


def test_csi_plugin_tolerates_the_gpu_taint() -> None:
    tolerations = fluid_values(FluidAddon(), namespace="fluid-system")["csi"]["tolerations"]
    assert any(Toleration.model_validate(t).tolerates(GPU_TAINT) for t in tolerations)


def test_controllers_do_not_tolerate_the_gpu_taint() -> None:
    values = fluid_values(FluidAddon(), namespace="fluid-system")
    parts = [values[part] for part in CONTROLLER_PARTS] + list(values["runtime"].values())
    assert set(CONTROLLER_PARTS) == {"dataset", "webhook", "fluidapp", "crdUpgrade"}
    assert all(part["tolerations"] == [] for part in parts)


def test_release_is_pinned_retained_and_privileged(platform_run) -> None:
    run = platform_run("eks")
    release = run.one(RELEASE, "fluid-release")
    assert release.inputs["chart"] == factories.verified_archive(versions.FLUID)
    assert release.inputs["version"] == versions.FLUID.version
    assert "repositoryOpts" not in release.inputs
    assert release.options.retain_on_delete is True
    labels = run.one(NAMESPACE, "fluid-namespace").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"  # CSI + FUSE


def test_disabled_fluid_is_not_installed(platform_run) -> None:
    run = platform_run("eks", addons={"fluid": {"enabled": False}})
    assert "kubeai:addons:Fluid" not in run.types()
    assert run.exports["platform"]["fluidEnabled"] is False


def test_args_validate() -> None:
    with pytest.raises(ValueError, match="disabled"):
        FluidArgs(config=FluidAddon(enabled=False)).validate()
    FluidArgs(config=FluidAddon()).validate()
