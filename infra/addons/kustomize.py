"""Kustomize overlays over the pinned upstream manifests, written where the program applies them.

Upstream releases that ship kustomize manifests instead of a chart (the training operator, Argo
Workflows) are installed from their verified copies below the upstream root (``infra.upstream``)
through an overlay of ours: ``resources`` names the upstream overlay, our patches and settings
follow. The overlay is generated, not checked in, because the upstream root is a per-machine
folder (``.tools/upstream`` or ``$KUBEAI_TOOLS_DIR/upstream``): it is written once under
``.kubeai/overlays/<name>-<digest>/`` (content-addressed, so the same inputs give the same path and
a ``pulumi up`` with no change shows no diff), with every path in it relative to the overlay.

``Directory`` is the ``kubernetes:kustomize/v2:Directory`` component the add-ons declare for such
an overlay (see its docstring for why it is a subclass).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra import upstream
from infra.addons import REPO_ROOT, repo_path
from infra.files import write_atomic

#: Where generated overlays are written (git-ignored ``.kubeai/``).
GENERATED_ROOT = REPO_ROOT / ".kubeai" / "overlays"


def upstream_resource(manifests: str, overlay: str) -> str:
    """The ``resources`` entry naming ``<upstream root>/<manifests>/<overlay>``, relative to a
    generated overlay directory. Fetches (or copies from the mirror) and verifies the pinned
    files first; raises ``infra.upstream.UpstreamError`` when that fails."""
    target = upstream.ensure(manifests) / overlay
    return os.path.relpath(target, GENERATED_ROOT / "overlay")


def write_overlay(name: str, kustomization: dict[str, Any], files: dict[str, str]) -> str:
    """Write the overlay ``kustomization`` plus ``files`` (name → text); return its directory.

    The directory is ``.kubeai/overlays/<name>-<12 hex digits of the content's sha256>``, returned
    relative to the current directory (``infra.addons.repo_path``). An existing directory with
    that digest is reused; files are written to a temporary name and renamed.
    """
    text = yaml.safe_dump(kustomization, sort_keys=False)
    digest = hashlib.sha256()
    for part in (text, *(f"{k}\0{v}" for k, v in sorted(files.items()))):
        digest.update(part.encode())
    target = GENERATED_ROOT / f"{name}-{digest.hexdigest()[:12]}"
    if not (target / "kustomization.yaml").is_file():
        for file_name, content in {**files, "kustomization.yaml": text}.items():
            write_atomic(target / file_name, content)
    return repo_path(*target.relative_to(REPO_ROOT).parts)


class Directory(k8s.kustomize.v2.Directory):
    """``kubernetes:kustomize/v2:Directory`` whose ``resources`` output has the provider's type.

    The Python SDK before pulumi-kubernetes 4.30.0 declares the component's ``resources`` output
    a string while the provider returns a list, so every real ``pulumi up`` failed after the
    objects were created with "Unexpected type. Expected 'list' got '<class 'str'>'"
    (pulumi/pulumi-kubernetes#3389, fixed by #4295 in v4.30.0; the mocks never resolve that
    output). The engine's provider is v4.25.0 (the only release the Go module proxy serves,
    ``tools/engine``) and the SDK is pinned to the same release (``constraints/engine.txt``), so
    this subclass corrects the annotation and nothing else: type token, inputs, options and URN
    are the upstream class's. Drop it when both move to 4.30.0 or later.
    """

    @property
    @pulumi.getter
    def resources(self) -> pulumi.Output[Sequence[Any] | None]:  # type: ignore[override]
        """The references of the objects the directory created (as the provider returns them)."""
        return pulumi.get(self, "resources")
