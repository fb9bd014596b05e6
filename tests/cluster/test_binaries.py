"""The built binaries are the pinned releases and say so (``--version`` stamped by ldflags)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.controlplane.components import ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION


def version_of(binary: Path) -> str:
    """``<binary> --version`` output (stdout and stderr)."""
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize("name", ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])
def test_kubernetes_binaries_report_pinned_release(
    control_plane_binaries: dict[str, Path], name: str
) -> None:
    assert version_of(control_plane_binaries[name]).strip() == f"Kubernetes {KUBERNETES_VERSION}"


def test_etcd_and_kwok_report_pinned_release(control_plane_binaries: dict[str, Path]) -> None:
    assert f"etcd Version: {ETCD_VERSION.removeprefix('v')}" in version_of(
        control_plane_binaries["etcd"]
    )
    assert KWOK_VERSION.removeprefix("v") in version_of(control_plane_binaries["kwok"])
