"""Kustomize overlays over the pinned upstream manifests, written where the program applies them.

Upstream releases that ship kustomize manifests instead of a chart (the training operator, Argo
Workflows) are installed from their verified copies below the upstream root (``infra.upstream``)
through an overlay of ours: ``resources`` names the upstream overlay, our patches and settings
follow. The overlay is generated, not checked in, because the upstream root is a per-machine
folder (``.tools/upstream`` or ``$KUBEAI_TOOLS_DIR/upstream``): it is written once under
``.kubeai/overlays/<name>-<digest>/`` (content-addressed, so the same inputs give the same path and
a ``pulumi up`` with no change shows no diff), with every path in it relative to the overlay.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import yaml

from infra import upstream
from infra.addons import REPO_ROOT, repo_path

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
        target.mkdir(parents=True, exist_ok=True)
        for file_name, content in {**files, "kustomization.yaml": text}.items():
            temp = target / f".{file_name}.tmp"
            temp.write_text(content, encoding="utf-8")
            temp.replace(target / file_name)
    return repo_path(*target.relative_to(REPO_ROOT).parts)
