"""`kubeai render` + `kubeai validate` of every example stack: the Pulumi program under mocks,
our charts through a real `helm template`, every object validated (kubernetes-validate strict,
pinned upstream CRD schemas, infra.upstream)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from glue.cli.main import app
from infra.render import REPO_ROOT, render_stack
from infra.validate import CrdSchemas, crds_dir, declared_types, validate_directory
from tests.support.helm import HelmTools

STACKS = sorted(p.name[7:-5] for p in (REPO_ROOT / "stacks").glob("Pulumi.*.yaml"))


@pytest.fixture(scope="module")
def crds() -> CrdSchemas:
    return CrdSchemas(crds_dir())


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_renders_and_validates(
    stack: str,
    tmp_path: Path,
    crds: CrdSchemas,
    helm_tools: HelmTools,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBEAI_HELM", str(helm_tools.helm3))
    result = render_stack(stack, tmp_path / stack)
    index = json.loads((tmp_path / stack / "index.json").read_text())
    assert (
        index["counts"] == result.counts and index["counts"]["total"] == len(index["objects"]) > 0
    )
    kinds = {o["kind"] for o in index["objects"]}
    if stack.startswith("team-"):
        assert {"Namespace", "Queue", "ResourceQuota", "LimitRange", "Role", "RoleBinding"} <= kinds
        assert {"Deployment", "Service"} <= kinds  # inference services through helm template
    else:
        assert {"Namespace", "Deployment"} <= kinds  # the glue chart through helm template
        declared = {o["pulumiType"] for o in index["objects"] if o["source"] == "declared"}
        assert "kubernetes:helm.sh/v3:Release" in declared  # upstream charts as declared
    checked, problems = validate_directory(tmp_path / stack, crds=crds)
    assert problems == [] and checked == sum(
        v for k, v in result.counts.items() if k in ("pulumi", "helm-template")
    )
    # Every object is accounted for: validated, or reported as declared (made at deploy time).
    assert checked + sum(declared_types(tmp_path / stack).values()) == result.counts["total"]
    text = "\n".join(p.read_text() for p in (tmp_path / stack).glob("*.yaml"))
    assert ":latest" not in text
    assert "\n    secure: " not in text and "{secure:" not in text


def test_secrets_are_placeholders(tmp_path: Path, helm_tools: HelmTools, monkeypatch) -> None:
    monkeypatch.setenv("KUBEAI_HELM", str(helm_tools.helm3))
    render_stack("prod-ack", tmp_path / "ack")
    docs = [
        d
        for p in sorted((tmp_path / "ack").glob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
    ]
    text = json.dumps(docs)
    assert "<secret:postgresDsn>" in text


def test_team_asking_too_many_gpus_fails_render(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    for name in ("prod-gke", "team-risk-prod"):
        (stacks / f"Pulumi.{name}.yaml").write_text(
            (REPO_ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text()
        )
    team = yaml.safe_load((stacks / "Pulumi.team-risk-prod.yaml").read_text())
    team["config"]["kubeai:quota"]["gpus"] = 100
    team["config"]["kubeai:queue"]["capability"]["gpus"] = 100
    (stacks / "Pulumi.team-risk-prod.yaml").write_text(yaml.safe_dump(team))
    result = CliRunner().invoke(
        app,
        [
            "render",
            "--stack",
            "team-risk-prod",
            "--out",
            str(tmp_path / "out"),
            "--stacks-dir",
            str(stacks),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "kubeai:quota.gpus" in result.output and "at most 24" in result.output
    unknown = CliRunner().invoke(
        app,
        ["render", "--stack", "nope", "--out", str(tmp_path / "o2"), "--stacks-dir", str(stacks)],
    )
    assert unknown.exit_code == 1 and "known stacks" in unknown.output
