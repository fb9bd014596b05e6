"""Validate custom resources against the upstream CRD schemas in ../shared/crds.

The directory comes from ``KUBEAI_CRDS_DIR`` (default: ``<repo>/../shared/crds``). Each CRD's
``openAPIV3Schema`` is converted for ``jsonschema`` (TOOLING.md): ``nullable`` adds ``"null"`` to
the type, ``apiVersion``/``kind``/``metadata`` are allowed at the root, and in strict mode every
object with ``properties`` and no ``x-kubernetes-preserve-unknown-fields`` refuses other keys.
CEL rules (``x-kubernetes-validations``) are not enforced.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CRDS_DIR = Path(os.environ.get("KUBEAI_CRDS_DIR", REPO_ROOT.parent / "shared" / "crds"))


def _convert(schema: Any, strict: bool) -> Any:
    if isinstance(schema, list):
        return [_convert(item, strict) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _convert(v, strict) for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"]
    out.pop("nullable", None)
    if (
        strict
        and "properties" in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in schema
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def schemas(group: str, strict: bool = True) -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind) -> JSON schema`` for the CRDs of API ``group`` under ``CRDS_DIR``
    (files are named ``<group>_<plural>.yaml`` upstream, so only that group's files are read)."""
    if not CRDS_DIR.is_dir():
        pytest.skip(f"upstream CRDs not found at {CRDS_DIR} (set KUBEAI_CRDS_DIR)")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS_DIR.glob(f"*/*/{group}_*.yaml")):
        crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _convert(copy.deepcopy(version["schema"]["openAPIV3Schema"]), strict)
            schema.setdefault("properties", {})
            schema["properties"].update(
                {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                }
            )
            out[(f"{group}/{version['name']}", kind)] = schema
    return out


def errors(manifest: dict[str, Any], *, strict: bool = True) -> list[str]:
    """Schema errors of a custom resource (``path: message``); KeyError for an unknown kind."""
    group = manifest["apiVersion"].split("/")[0]
    schema = schemas(group, strict)[(manifest["apiVersion"], manifest["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]
