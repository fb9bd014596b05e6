"""The shared signature types: one neutral module, so Triton code and the registry import each
other's neighbours without a cycle."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from glue.model_registry import schemas
from glue.signature import Signature, TensorSpec


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    return set(out.stdout.split())


def test_triton_config_does_not_import_the_registry() -> None:
    loaded = _modules_after_import("glue.triton.config")
    assert "glue.signature" in loaded
    assert not {m for m in loaded if m.startswith("glue.model_registry")}


def test_registry_schemas_use_the_same_types() -> None:
    assert schemas.Signature is Signature
    assert schemas.TensorSpec is TensorSpec
    assert schemas.VersionCreate.model_fields["signature"].annotation is Signature


def test_unknown_fields_and_datatypes_are_refused_with_their_path() -> None:
    with pytest.raises(ValidationError) as err:
        Signature.model_validate(
            {
                "inputs": [{"name": "x", "datatype": "FP128", "dims": [1]}],
                "outputs": [{"name": "y", "datatype": "FP32", "dims": [1], "shape": [1]}],
            }
        )
    locs = {tuple(e["loc"]) for e in err.value.errors()}
    assert ("inputs", 0, "datatype") in locs
    assert ("outputs", 0, "shape") in locs
