"""Offline validation: built-in kinds with kubernetes-validate (strict), custom resources against
the pinned upstream CRDs (infra.upstream; or $KUBEAI_CRDS_DIR)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from glue.cli.main import app
from infra.validate import CrdSchemas, crds_dir, validate_directory, validate_object


@pytest.fixture(scope="module")
def crds() -> CrdSchemas:
    return CrdSchemas(crds_dir())


QUEUE = {
    "apiVersion": "scheduling.volcano.sh/v1beta1",
    "kind": "Queue",
    "metadata": {"name": "cv"},
    "spec": {"weight": 2, "capability": {"cpu": "64", "nvidia.com/gpu": 8}, "reclaimable": True},
}


def test_valid_objects(crds: CrdSchemas) -> None:
    assert validate_object(QUEUE, crds=crds) == []
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-cv"}}
    assert validate_object(ns, crds=crds) == []
    dataset = {
        "apiVersion": "data.fluid.io/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "d", "namespace": "x"},
        "spec": {"mounts": [{"mountPoint": "s3://b/p", "name": "p"}]},
    }
    assert validate_object(dataset, crds=crds) == []


def test_custom_resource_field_typo_is_named(crds: CrdSchemas) -> None:
    bad = {**QUEUE, "spec": {**QUEUE["spec"], "reclaimabel": True}}
    [problem] = validate_object(bad, crds=crds, where="q.yaml: Queue/cv")
    assert problem.field == "spec" and "reclaimabel" in problem.message
    wrong_type = {**QUEUE, "spec": {**QUEUE["spec"], "weight": "heavy"}}
    [problem] = validate_object(wrong_type, crds=crds)
    assert problem.field == "spec.weight"


def test_builtin_field_typo_and_unknown_kind(crds: CrdSchemas) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q"},
        "spec": {"hardd": {"requests.nvidia.com/gpu": "4"}},
    }
    [problem] = validate_object(quota, crds=crds)
    assert problem.field == "spec" and "hardd" in problem.message
    [problem] = validate_object(
        {"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {}}, crds=crds
    )
    assert problem.field == "apiVersion" and "no schema" in problem.message


def test_cli_validate_exit_codes(tmp_path: Path, crds: CrdSchemas) -> None:
    (tmp_path / "ok.yaml").write_text(
        yaml.safe_dump_all(
            [QUEUE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}]
        )
    )
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(tmp_path), "--crds", str(crds.directory)])
    assert result.exit_code == 0, result.output
    assert "2 objects valid" in result.output and "declared" not in result.output
    checked, problems = validate_directory(tmp_path, crds=crds)
    assert (checked, problems) == (2, [])
    declared = {
        "apiVersion": "render.kubeai.dev/v1",
        "kind": "DeclaredResource",
        "metadata": {"name": "volcano-release"},
        "pulumiType": "kubernetes:helm.sh/v3:Release",
    }
    (tmp_path / "declared.yaml").write_text(yaml.safe_dump(declared))
    result = runner.invoke(app, ["validate", str(tmp_path), "--crds", str(crds.directory)])
    assert result.exit_code == 0, result.output
    assert "2 objects valid" in result.output
    assert "1 declared resource not validated" in result.output
    assert "1 kubernetes:helm.sh/v3:Release" in result.output
    (tmp_path / "declared.yaml").unlink()
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump({**QUEUE, "spec": {"weight": -1, "capabilty": {}}})
    )
    result = runner.invoke(app, ["validate", str(tmp_path), "--crds", str(crds.directory)])
    assert result.exit_code == 1
    assert "bad.yaml: Queue/cv" in result.output and "capabilty" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = runner.invoke(app, ["validate", str(empty), "--crds", str(crds.directory)])
    assert nothing.exit_code == 1 and "no Kubernetes objects" in nothing.output
    missing = runner.invoke(app, ["validate", str(tmp_path), "--crds", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "KUBEAI_CRDS_DIR" in missing.output
