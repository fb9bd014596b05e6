"""End to end on a real kind cluster: the glue chart installs, the registry answers through the
cluster network, and a team namespace from the offline render applies and validates server-side.

These tests need a kind cluster (``KUBEAI_E2E_KIND_CLUSTER``), a Docker engine and the glue image
loaded into kind (``KUBEAI_E2E_GLUE_IMAGE``, e.g. ``kubeai-glue:<sha>``): the CI workflow's e2e
job provides all three. Elsewhere they skip with the reason printed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER = os.environ.get("KUBEAI_E2E_KIND_CLUSTER", "")
IMAGE = os.environ.get("KUBEAI_E2E_GLUE_IMAGE", "")
NAMESPACE = "kubeai-e2e"


def _docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def _why_skip() -> str | None:
    if shutil.which("kind") is None:
        return "kind is not installed"
    if not _docker_ok():
        return "no Docker engine answers `docker info`"
    if not CLUSTER or not IMAGE:
        return "KUBEAI_E2E_KIND_CLUSTER / KUBEAI_E2E_GLUE_IMAGE unset (.github/workflows/ci.yml)"
    return None


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or ""),
]


def _tool(name: str, version: str) -> str:
    path = REPO / ".tools" / f"{name}-{version}" / name
    if not path.is_file():
        pytest.fail(f"{path} missing: run `make tools`")
    return str(path)


def _run(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def kubectl() -> str:
    return _tool("kubectl", "v1.34.5")


@pytest.fixture(scope="module")
def glue_release(kubectl: str) -> Iterator[str]:
    helm = _tool("helm", "v3.19.0")
    context = f"kind-{CLUSTER}"
    repository, tag = IMAGE.rsplit(":", 1)
    _run(
        helm,
        "upgrade",
        "--install",
        "kubeai-glue",
        str(REPO / "charts" / "kubeai-glue"),
        "--kube-context",
        context,
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--set",
        f"image.repository={repository}",
        "--set",
        f"image.tag={tag}",
        "--set",
        "image.pullPolicy=Never",
        "--wait",
        "--timeout",
        "5m",
    )
    yield context
    subprocess.run(
        [helm, "uninstall", "kubeai-glue", "--kube-context", context, "--namespace", NAMESPACE],
        capture_output=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_registry_serves_through_the_cluster(kubectl: str, glue_release: str) -> None:
    services = json.loads(
        _run(kubectl, "--context", glue_release, "-n", NAMESPACE, "get", "svc", "-o", "json")
    )
    name = next(
        s["metadata"]["name"] for s in services["items"] if "registry" in s["metadata"]["name"]
    )
    port = _free_port()
    forward = subprocess.Popen(
        [
            kubectl,
            "--context",
            glue_release,
            "-n",
            NAMESPACE,
            "port-forward",
            f"svc/{name}",
            f"{port}:8080",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        created = httpx.post(
            f"{url}/api/v1/teams/e2e/models", json={"name": "e2e-digits"}, timeout=10
        )
        assert created.status_code in (201, 409), created.text
        assert (
            httpx.get(f"{url}/api/v1/teams/e2e/models/e2e-digits", timeout=10).json()["name"]
            == "e2e-digits"
        )
    finally:
        forward.terminate()
        forward.wait(10)


def test_rendered_team_namespace_applies_server_side(
    kubectl: str, glue_release: str, tmp_path: Path
) -> None:
    from infra.render import render_stack

    result = render_stack("team-risk-prod", tmp_path / "render")
    namespaces = [
        e for e in result.entries if e["kind"] in ("Namespace", "ResourceQuota", "LimitRange")
    ]
    assert namespaces
    for entry in namespaces:
        _run(
            kubectl,
            "--context",
            glue_release,
            "apply",
            "--dry-run=server",
            "-f",
            str(tmp_path / "render" / entry["file"]),
        )
