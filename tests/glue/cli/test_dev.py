"""``kubeai dev cluster up`` outside a loopback-only namespace: refuses bad stacks, explains why it
cannot isolate itself, or re-runs itself under ``unshare --net`` (the run itself is exercised in
tests/cluster/test_dev_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from glue.cli.dev import app
from infra.controlplane import build, netns

runner = CliRunner()


@pytest.fixture
def outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend to run outside any loopback-only namespace."""
    monkeypatch.setattr(netns, "loopback_only_problem", lambda *_: "not isolated")


def test_unknown_stack_is_refused_with_the_known_ones() -> None:
    result = runner.invoke(app, ["cluster", "up", "--stack", "nope"])
    assert result.exit_code == 2
    assert "no stack file" in result.output and "prod-eks" in result.output


def test_team_stack_is_refused() -> None:
    result = runner.invoke(app, ["cluster", "up", "--stack", "team-cv-prod"])
    assert result.exit_code == 2
    assert "team stack" in result.output


def test_without_unshare_it_says_why(outside: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "unshare_problem", lambda: "needs root")
    result = runner.invoke(app, ["cluster", "up"])
    assert result.exit_code == 1
    assert "cannot create a loopback-only network namespace: needs root" in result.output


def test_it_builds_then_reruns_itself_in_a_new_namespace(
    outside: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(netns, "unshare_problem", lambda: None)
    monkeypatch.setattr(build, "build", lambda: calls.append("build"))

    def execvp(file: str, argv: list[str]) -> None:
        calls.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr("os.execvp", execvp)
    result = runner.invoke(app, ["cluster", "up", "--stack=prod-eks", f"--workdir={tmp_path}"])
    assert result.exit_code == 0, result.output
    assert calls[0] == "build"
    argv = calls[1]
    assert isinstance(argv, list)
    assert argv[:7] == netns.unshare_command([])
    assert argv[8:13] == ["-m", "glue.cli.dev", "cluster", "up", "--no-build"]
    assert "--stack=prod-eks" in argv and f"--workdir={tmp_path}" in argv


def test_install_accepts_a_team_stack_and_is_passed_on(
    outside: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(netns, "unshare_problem", lambda: None)

    def execvp(file: str, argv: list[str]) -> None:
        calls.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr("os.execvp", execvp)
    args = ["cluster", "up", "--stack=team-cv-prod", "--install", "--no-build"]
    result = runner.invoke(app, [*args, f"--workdir={tmp_path}"])
    assert result.exit_code == 0, result.output
    assert "--stack=team-cv-prod" in calls[0] and "--install" in calls[0]
