"""infra/addons/__init__.py: chart locations, paths, namespaces and CRD retention helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
import pytest

from infra import addons, versions
from infra.addons import (
    CRD_TYPE,
    chart_args,
    check_dns_label,
    crd_installer_options,
    namespace_manifest_labels,
    repo_path,
    retain_crds,
)
from infra.config import ChartSource
from tests.infra import factories


def test_chart_args_default_is_the_verified_archive_at_the_pinned_version() -> None:
    args = chart_args(versions.VOLCANO, ChartSource())
    assert args["chart"] == factories.verified_archive(versions.VOLCANO)
    assert args["chart"].endswith(f"charts/volcano-{versions.VOLCANO.version}.tgz")
    assert Path(args["chart"]).is_file()
    assert args["version"] == versions.VOLCANO.version
    assert "repository_opts" not in args


def test_chart_args_mirror_repository() -> None:
    args = chart_args(versions.FLUID, ChartSource(repository="https://mirror.example/charts"))
    assert args["repository_opts"].repo == "https://mirror.example/charts"
    assert args["version"] == versions.FLUID.version


def test_chart_args_oci_registry_addresses_the_chart_by_name() -> None:
    args = chart_args(versions.VOLCANO, ChartSource(repository="oci://registry.example/charts/"))
    assert args == {"chart": "oci://registry.example/charts/volcano", "version": "1.15.1"}


def test_chart_args_local_path_is_relative_to_the_repository_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(addons.REPO_ROOT / "infra")
    args = chart_args(versions.FLUID, ChartSource(path="vendor/charts/fluid"))
    assert args == {"chart": os.path.join("..", "vendor", "charts", "fluid"), "version": "1.0.8"}


def test_repo_path_follows_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(addons.REPO_ROOT)
    assert repo_path("charts", "kubeai-glue") == os.path.join("charts", "kubeai-glue")
    monkeypatch.chdir(addons.REPO_ROOT / "infra")  # where `pulumi up` runs the program
    assert repo_path("charts", "kubeai-glue") == os.path.join("..", "charts", "kubeai-glue")


def test_namespace_labels_set_every_pod_security_mode() -> None:
    labels = namespace_manifest_labels("restricted", {"team": "cv"})
    assert labels == {
        "team": "cv",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    assert namespace_manifest_labels(None) == {}


@pytest.mark.parametrize("bad", ["", "Upper", "-x", "x" * 64, "a_b"])
def test_check_dns_label_names_the_field(bad: str) -> None:
    with pytest.raises(ValueError, match="Volcano namespace"):
        check_dns_label(bad, "Volcano namespace")


def _transform_args(type_: str) -> pulumi.ResourceTransformArgs:
    return pulumi.ResourceTransformArgs(
        custom=True, type_=type_, name="x", props={}, opts=pulumi.ResourceOptions()
    )


def test_retain_crds_marks_crd_children_retained() -> None:
    result = retain_crds(_transform_args(CRD_TYPE))
    assert result is not None and result.opts.retain_on_delete is True
    assert retain_crds(_transform_args("kubernetes:apps/v1:Deployment")) is None


def test_crd_installer_options_retain_and_transform() -> None:
    opts = crd_installer_options(None)  # type: ignore[arg-type]
    assert opts.retain_on_delete is True
    assert opts.transforms == [retain_crds]
    assert not opts.protect
