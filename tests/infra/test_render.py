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
from infra.render import OUT_MARKER, REPO_ROOT, render_stack
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


def _render(out: Path, *more: str):
    args = ["render", "--stack", "local", "--out", str(out), *more]
    return CliRunner().invoke(app, args, env={"COLUMNS": "300"})


def test_render_never_deletes_a_folder_it_did_not_write(tmp_path: Path) -> None:
    """`mkdir d; echo x > d/keep; kubeai render --stack local --out d` used to delete d/keep."""
    mine = tmp_path / "d"
    mine.mkdir()
    (mine / "keep").write_text("x")
    r = _render(mine)
    assert r.exit_code == 2, r.output
    assert "refusing to delete" in r.output and "Traceback" not in r.output
    assert (mine / "keep").read_text() == "x"
    # `--out .` (the clone) and `--out stacks` (tracked files) are refused the same way.
    r = _render(REPO_ROOT / "stacks")
    assert r.exit_code == 2 and (REPO_ROOT / "stacks" / "Pulumi.local.yaml").is_file()
    # A file is a clear error, not a NotADirectoryError traceback.
    (tmp_path / "file").write_text("f")
    r = _render(tmp_path / "file")
    assert r.exit_code == 2 and "is not a directory" in r.output, r.output
    assert (tmp_path / "file").read_text() == "f"
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert _render(link).exit_code == 2 and (mine / "keep").is_file()


def test_render_clears_only_its_own_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()  # empty: fine
    assert _render(out).exit_code == 0
    assert (out / OUT_MARKER).is_file()
    (out / "stale.yaml").write_text("kind: Stale\n")
    (out / "sub").mkdir()
    r = _render(out)
    assert r.exit_code == 0, r.output
    assert not (out / "stale.yaml").exists() and not (out / "sub").exists()
    assert (out / OUT_MARKER).is_file() and (out / "index.json").is_file()


def test_stack_file_that_is_not_yaml_is_bad_input(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.local.yaml").write_text("config: [unclosed\n")
    r = _render(tmp_path / "out", "--stacks-dir", str(stacks))
    assert r.exit_code == 2 and "not valid YAML" in r.output, r.output
    (stacks / "Pulumi.local.yaml").write_text("- a list\n")
    r = _render(tmp_path / "out", "--stacks-dir", str(stacks))
    assert r.exit_code == 2 and "mapping" in r.output, r.output


def test_hostile_stack_files_are_bad_input_without_a_traceback(tmp_path: Path) -> None:
    """Quoted inputs of a trial: ~900 nested mappings (RecursionError in the YAML reader) and a
    non-UTF-8 byte (UnicodeDecodeError) ended in a traceback with exit 1."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    deep = "config:\n  kubeai:x: " + "{k: " * 900 + "1" + "}" * 900 + "\n"
    (stacks / "Pulumi.local.yaml").write_text(deep)
    r = _render(tmp_path / "out", "--stacks-dir", str(stacks))
    assert r.exit_code == 2 and "nests its values too deeply" in r.output, r.output
    assert "Traceback" not in r.output
    (stacks / "Pulumi.local.yaml").write_bytes(b"config:\n  kubeai:x: caf\xe9\n")
    r = _render(tmp_path / "out", "--stacks-dir", str(stacks))
    assert r.exit_code == 2 and "not UTF-8" in r.output, r.output


def test_render_without_upstream_files_is_one_line_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone without the mirror printed a ~200-line traceback ending in UpstreamError."""
    empty = tmp_path / "mirror"
    empty.mkdir()
    monkeypatch.setenv("KUBEAI_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setenv("KUBEAI_UPSTREAM_MIRROR", str(empty))
    r = _render(tmp_path / "out")
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output and "missing from the mirror" in r.output
    assert r.output.startswith("error: ") and len(r.output) < 1000  # one (wrapped) line


@pytest.mark.parametrize("command", ["render", "validate"])
@pytest.mark.parametrize("where", ["file", "/proc/odd"])
def test_a_bad_tools_dir_is_named(
    command: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KUBEAI_TOOLS_DIR naming a file gave tracebacks; /proc/odd an error not naming it."""
    tools = tmp_path / "tools" if where == "file" else Path(where)
    if where == "file":
        tools.write_text("not a folder")
    monkeypatch.setenv("KUBEAI_TOOLS_DIR", str(tools))
    monkeypatch.delenv("KUBEAI_CRDS_DIR", raising=False)
    (tmp_path / "rendered").mkdir()
    args = (
        ["render", "--stack", "local", "--out", str(tmp_path / "out")]
        if command == "render"
        else ["validate", str(tmp_path / "rendered")]
    )
    r = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert r.exit_code == 3, r.output
    assert "KUBEAI_TOOLS_DIR" in r.output and "Traceback" not in r.output


def test_a_bare_star_for_the_default_providers_fails_render(tmp_path: Path) -> None:
    """The stack file must give a list (``["*"]``); a bare ``"*"`` is no list to the engine."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    local = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    local["config"]["pulumi:disable-default-providers"] = "*"
    (stacks / "Pulumi.local.yaml").write_text(yaml.safe_dump(local))
    r = _render(tmp_path / "out", "--stacks-dir", str(stacks))
    assert r.exit_code == 2, r.output
    assert "pulumi:disable-default-providers: must be a list of packages, got '*'" in r.output
