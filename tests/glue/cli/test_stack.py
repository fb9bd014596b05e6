"""glue/cli/stack.py: ``kubeai stack`` refuses bad input with exit 2 and one line, no traceback.

The commands' engine runs are exercised in tests/engine (``make test-engine``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from glue.cli.main import app
from glue.cli.stack import _counts


def _invoke(args: list[str], env: dict[str, str] | None = None, **kwargs: str) -> object:
    return CliRunner().invoke(app, args, env={"COLUMNS": "300", **(env or {})}, **kwargs)


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    folder = tmp_path / "stacks"
    folder.mkdir()
    (folder / "Pulumi.local.yaml").write_text("config: {}\n")
    return folder


def test_an_unknown_stack_exits_2_naming_the_known_ones(stacks: Path, tmp_path: Path) -> None:
    args = ["stack", "preview", "--stack", "nope", "--stacks-dir", str(stacks)]
    r = _invoke([*args, "--state-dir", str(tmp_path / "state")], {"PULUMI_CONFIG_PASSPHRASE": ""})
    assert r.exit_code == 2, r.output
    assert "Pulumi.nope.yaml" in r.output and "local" in r.output
    assert "Traceback" not in r.output


def test_no_passphrase_exits_2_naming_the_variable(
    stacks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    r = _invoke(["stack", "up", "--stack", "local", "--stacks-dir", str(stacks)])
    assert r.exit_code == 2, r.output
    assert "PULUMI_CONFIG_PASSPHRASE" in r.output and "Traceback" not in r.output


def test_a_missing_kubeconfig_exits_2(stacks: Path, tmp_path: Path) -> None:
    args = ["stack", "up", "--stack", "local", "--kubeconfig", str(tmp_path / "none")]
    r = _invoke(args)
    assert r.exit_code == 2 and "--kubeconfig" in r.output


def test_destroy_asks_first_and_no_is_exit_2(stacks: Path, tmp_path: Path) -> None:
    args = ["stack", "destroy", "--stack", "local", "--stacks-dir", str(stacks)]
    r = _invoke([*args, "--state-dir", str(tmp_path / "state")], input="n\n")
    assert r.exit_code == 2, r.output
    assert "not confirmed" in r.output


def test_destroy_of_a_stack_never_created_exits_2(stacks: Path, tmp_path: Path) -> None:
    args = ["stack", "destroy", "--yes", "--stack", "local", "--stacks-dir", str(stacks)]
    r = _invoke([*args, "--state-dir", str(tmp_path / "s")], {"PULUMI_CONFIG_PASSPHRASE": "x"})
    assert r.exit_code in (2, 3), r.output  # 3 when the engine is not built on this machine
    assert "does not exist" in r.output or "make engine" in r.output


def test_change_counts_read_like_the_engine() -> None:
    assert _counts({}) == "no changes"
    assert _counts({"same": 57}) == "no changes, 57 unchanged"
    assert _counts({"same": 57, "read": 1}) == "no changes, 57 unchanged"
    assert _counts({"create": 3, "same": 2, "update": 1}) == "create 3, same 2, update 1"
