"""infra/engine/driver.py without a cluster: stack files, workspace, prerequisites, errors.

The engine itself runs in tests/engine (``make test-engine``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from infra.engine.driver import (
    Engine,
    EngineUnavailableError,
    StackError,
    StackInputError,
    _last_error,
)

TEAM = {
    "config": {
        "kubeai:stackKind": "team",
        "kubeai:platformStack": "local",
        "kubeai:team": {"name": "vision"},
    }
}


def _engine(tmp_path: Path, **environ: str) -> Engine:
    stacks = tmp_path / "stacks"
    stacks.mkdir(exist_ok=True)
    return Engine(stacks_dir=stacks, state_dir=tmp_path / "state", environ=dict(environ))


def test_a_missing_stack_file_names_the_stacks_there(tmp_path: Path) -> None:
    engine = _engine(tmp_path, PULUMI_CONFIG_PASSPHRASE="x")
    (engine.stacks_dir / "Pulumi.local.yaml").write_text("config: {}\n")
    with pytest.raises(StackInputError) as caught:
        engine.up("lcoal")
    assert "Pulumi.lcoal.yaml" in str(caught.value) and "local" in str(caught.value)


@pytest.mark.parametrize("text", ["config: [1, 2]\n", "- a\n", "config: {a: [\n"])
def test_a_stack_file_that_is_not_a_config_mapping_is_refused(tmp_path: Path, text: str) -> None:
    engine = _engine(tmp_path, PULUMI_CONFIG_PASSPHRASE="x")
    (engine.stacks_dir / "Pulumi.bad.yaml").write_text(text)
    with pytest.raises(StackInputError) as caught:
        engine.settings("bad")
    assert "Pulumi.bad.yaml" in str(caught.value)


def test_no_passphrase_is_refused_before_anything_runs(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with pytest.raises(StackInputError) as caught:
        engine.env()
    assert "PULUMI_CONFIG_PASSPHRASE" in str(caught.value)
    assert not engine.state_dir.exists()


def test_missing_engine_binaries_name_make_engine(tmp_path: Path) -> None:
    engine = Engine(
        stacks_dir=tmp_path,
        state_dir=tmp_path / "state",
        tools_dir=tmp_path / "no-tools",
        environ={"PULUMI_CONFIG_PASSPHRASE": ""},  # empty is allowed
    )
    with pytest.raises(EngineUnavailableError) as caught:
        engine.env()
    assert "make engine" in str(caught.value)


def test_a_team_stack_without_its_platform_stack_is_refused(tmp_path: Path) -> None:
    engine = _engine(tmp_path, PULUMI_CONFIG_PASSPHRASE="x")
    (engine.stacks_dir / "Pulumi.team-vision-local.yaml").write_text(yaml.safe_dump(TEAM))
    with pytest.raises(StackInputError) as caught:
        engine.up("team-vision-local")
    message = str(caught.value)
    assert "platform stack 'local'" in message and "kubeai stack up --stack local" in message


def test_the_workspace_copy_follows_the_stack_file_and_keeps_the_salt(tmp_path: Path) -> None:
    engine = _engine(tmp_path, PULUMI_CONFIG_PASSPHRASE="x")
    engine._write_workspace("local", {"config": {"kubeai:environment": "local"}})
    copy = engine.workspace_dir / "Pulumi.local.yaml"
    written = yaml.safe_load(copy.read_text())
    copy.write_text(yaml.safe_dump({**written, "encryptionsalt": "v1:salt"}))  # stack init
    engine._write_workspace("local", {"config": {"kubeai:environment": "dev"}})
    again = yaml.safe_load(copy.read_text())
    assert again == {"config": {"kubeai:environment": "dev"}, "encryptionsalt": "v1:salt"}
    project = yaml.safe_load((engine.workspace_dir / "Pulumi.yaml").read_text())
    assert project["name"] == "kubeai" and project["backend"]["url"] == engine.backend_url
    assert engine.backend_url.startswith("file://")


def test_a_stack_files_own_salt_wins(tmp_path: Path) -> None:
    engine = _engine(tmp_path, PULUMI_CONFIG_PASSPHRASE="x")
    engine._write_workspace("local", {"config": {}, "encryptionsalt": "v1:old"})
    engine._write_workspace("local", {"config": {}, "encryptionsalt": "v1:mine"})
    copy = yaml.safe_load((engine.workspace_dir / "Pulumi.local.yaml").read_text())
    assert copy["encryptionsalt"] == "v1:mine"


def test_destroy_and_outputs_of_an_unknown_stack_are_refused(tmp_path: Path) -> None:
    engine = _engine(tmp_path, PULUMI_CONFIG_PASSPHRASE="x")
    for operation in (engine.destroy, engine.outputs):
        with pytest.raises(StackInputError, match="does not exist"):
            operation("local")


def test_engine_errors_are_reduced_to_their_error_lines() -> None:
    result = auto.CommandResult(
        stdout="Updating (local):\n  +  x created\n    error: update failed\n",
        stderr="error: quota refused: at most 10 CPUs\n",
        code=255,
    )
    message = _last_error(auto.errors.CommandError(result))
    assert message == "update failed; quota refused: at most 10 CPUs"
    assert issubclass(StackInputError, StackError) and issubclass(
        EngineUnavailableError, StackError
    )


def test_an_error_keeps_the_lines_under_it() -> None:
    """A config error reached users as "invalid stack configuration (1 problem(s)):" alone."""
    stdout = (
        "Diagnostics:\n  pulumi:pulumi:Stack (kubeai-team):\n"
        "    error: invalid stack configuration (1 problem(s)):\n"
        "      kubeai:quota: the namespace ResourceQuota must be >= the queue capability\n"
        "    error: update failed\n"
    )
    result = auto.CommandResult(stdout=stdout, stderr="", code=255)
    message = _last_error(auto.errors.CommandError(result))
    assert "kubeai:quota: the namespace ResourceQuota must be >= the queue capability" in message
    assert message.endswith("; update failed")
