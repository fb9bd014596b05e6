"""The input/output signature of a model version: its tensors' names, datatypes and dims.

Shared by the model registry (the API contract of a version) and the Triton config code (which
derives the same signature from a config.pbtxt), so neither imports the other.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from glue.json_numbers import JsonInteger

#: Tensor datatypes of the KServe v2 inference protocol, as Triton names them on the wire.
TritonDataType = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
    "BF16",
]


class TensorSpec(BaseModel):
    """One input or output tensor: Triton name, datatype (``FP32``...) and dims (-1 = variable)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    ]
    datatype: TritonDataType
    dims: list[Annotated[StrictInt, Field(ge=-1, le=2**31 - 1), JsonInteger]] = Field(max_length=16)


class Signature(BaseModel):
    """Input/output signature of a model version; must equal its Triton config.pbtxt."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[TensorSpec] = Field(min_length=1, max_length=64)
    outputs: list[TensorSpec] = Field(min_length=1, max_length=64)
