"""Validate custom resources in tests with the product's validator (infra/validate.py) against
the pinned upstream CRDs (``infra.upstream``; ``$KUBEAI_CRDS_DIR`` overrides)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from infra.validate import CrdSchemas, crds_dir, validate_object

CRDS_DIR: Path = crds_dir()


@functools.cache
def _schemas() -> CrdSchemas:
    return CrdSchemas(CRDS_DIR)


def errors(manifest: dict[str, Any]) -> list[str]:
    """Schema errors of one object as ``field: message`` (empty when valid)."""
    return [
        f"{p.field or '<root>'}: {p.message}" for p in validate_object(manifest, crds=_schemas())
    ]
