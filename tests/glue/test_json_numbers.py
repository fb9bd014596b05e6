"""``JsonInteger``: an integer as JSON Schema counts them (``3.0`` is one; ``"3"`` and ``true``
are not), with the bounds still in the JSON Schema as ``minimum``/``maximum``."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, StrictInt, TypeAdapter, ValidationError

from glue.json_numbers import JsonInteger
from glue.signature import TensorSpec

Bounded = TypeAdapter(Annotated[StrictInt, Field(ge=1, le=10), JsonInteger])


def test_integral_floats_are_integers() -> None:
    assert Bounded.validate_json("3.0") == 3 and Bounded.validate_json("3") == 3
    assert Bounded.json_schema() == {"type": "integer", "minimum": 1, "maximum": 10}


@pytest.mark.parametrize("raw", ["3.5", '"3"', "true", "11.0", "0.0", "1e400"])
def test_other_values_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        Bounded.validate_json(raw)


def test_tensor_dims_take_integral_floats() -> None:
    spec = TensorSpec.model_validate_json('{"name": "x", "datatype": "FP32", "dims": [-1.0, 64]}')
    assert spec.dims == [-1, 64]
