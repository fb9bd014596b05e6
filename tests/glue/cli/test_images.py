"""``kubeai images list``: the mirror list of a platform stack through the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from glue.cli.main import app
from infra.images import mirrored

MIRROR = "mirror.test/kubeai"

runner = CliRunner()


def test_lists_every_image_of_a_platform_stack_with_its_mirror_copy() -> None:
    result = runner.invoke(
        app,
        ["images", "list", "--stack", "prod-eks", "--registry", "mirror.test/kubeai", "--pairs"],
    )
    assert result.exit_code == 0, result.output
    pairs = [line.split("\t") for line in result.output.splitlines()]
    assert len(pairs) > 5
    assert all(target == mirrored(source, MIRROR) for source, target in pairs)
    assert all(target.startswith(f"{MIRROR}/") for _, target in pairs)
    assert any("cluster-autoscaler" in source for source, _ in pairs)


def test_a_team_stack_is_refused_with_exit_2() -> None:
    result = runner.invoke(app, ["images", "list", "--stack", "team-search-prod"])
    assert result.exit_code == 2
    assert "not a platform stack" in result.output


@pytest.mark.parametrize(
    "registry",
    [
        "https://mirror.corp",
        "mirror.corp/kubeai:v1",
        "Mirror.Corp",
        "mirror..corp",
        "mirror.corp:99999",
        "mirror.corp//x",
        "",
    ],
)
def test_a_registry_the_stack_key_would_refuse_is_refused_here_too(registry: str) -> None:
    """Quoted inputs of a trial: each printed pairs crane/skopeo cannot use (exit 0)."""
    result = runner.invoke(app, ["images", "list", "--stack", "prod-eks", "--registry", registry])
    assert result.exit_code == 2
    assert "--registry:" in result.output and "->" not in result.output
