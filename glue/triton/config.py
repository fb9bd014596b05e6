"""Triton model configuration (config.pbtxt): parse, derive the signature, build load overrides.

Parsing uses Triton's own protobuf schema (``tritonclient.grpc.model_config_pb2.ModelConfig``) with
protobuf's text format, so every field Triton accepts is understood. Source of the schema:
triton-inference-server/common ``protobuf/model_config.proto``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from glue.signature import Signature, TensorSpec

if TYPE_CHECKING:
    # Triton's generated module ships without type stubs (mypy sees ``Any``). These stubs give
    # the static types of the fields this project reads, named and shaped as in
    # ``model_config.proto``; at run time the names are the generated message classes.
    from google.protobuf.internal.containers import (
        MessageMap,
        RepeatedCompositeFieldContainer,
        RepeatedScalarFieldContainer,
    )
    from google.protobuf.message import Message

    class ModelInput(Message):
        """``ModelInput``: one input tensor (``data_type`` is a ``DataType`` enum value)."""

        name: str
        data_type: int

        @property
        def dims(self) -> RepeatedScalarFieldContainer[int]: ...

    class ModelOutput(Message):
        """``ModelOutput``: one output tensor (``data_type`` is a ``DataType`` enum value)."""

        name: str
        data_type: int
        label_filename: str

        @property
        def dims(self) -> RepeatedScalarFieldContainer[int]: ...

    class ModelParameter(Message):
        """``ModelParameter``: the value of one entry of a config's ``parameters`` map."""

        string_value: str

    class ModelVersionPolicy(Message):
        """``ModelVersionPolicy``: which versions of a model Triton serves."""

        class Specific(Message):
            """``ModelVersionPolicy.Specific``: exactly the listed versions."""

            @property
            def versions(self) -> RepeatedScalarFieldContainer[int]: ...

        @property
        def specific(self) -> ModelVersionPolicy.Specific: ...

    class ModelConfig(Message):
        """``ModelConfig``: one model's configuration (the content of ``config.pbtxt``)."""

        name: str
        platform: str
        backend: str
        max_batch_size: int
        default_model_filename: str

        @property
        def input(self) -> RepeatedCompositeFieldContainer[ModelInput]: ...

        @property
        def output(self) -> RepeatedCompositeFieldContainer[ModelOutput]: ...

        @property
        def version_policy(self) -> ModelVersionPolicy: ...

        @property
        def parameters(self) -> MessageMap[str, ModelParameter]: ...

else:
    ModelInput = model_config_pb2.ModelInput
    ModelOutput = model_config_pb2.ModelOutput
    ModelParameter = model_config_pb2.ModelParameter
    ModelVersionPolicy = model_config_pb2.ModelVersionPolicy
    ModelConfig = model_config_pb2.ModelConfig

#: ``DataType`` enum names without the ``TYPE_`` prefix are the datatypes of the KServe v2 protocol
#: (``TYPE_FP32`` <-> ``FP32``); ``TYPE_STRING`` is ``BYTES`` on the wire.
_WIRE_NAMES = {"STRING": "BYTES"}


def parse_model_config(text: str) -> ModelConfig:
    """Parse config.pbtxt text into a ``ModelConfig`` message.

    Raises ``ValueError`` with the line/column and the reason when the text is not a valid
    Triton model configuration.
    """
    message = ModelConfig()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ValueError(f"config.pbtxt is not a valid Triton model configuration: {exc}") from exc
    return message


def wire_datatype(data_type: int) -> str:
    """KServe v2 datatype name (``FP32``) of a ``DataType`` enum value (``TYPE_FP32``)."""
    name = str(model_config_pb2.DataType.Name(data_type)).removeprefix("TYPE_")
    return _WIRE_NAMES.get(name, name)


def signature_of(config: ModelConfig) -> Signature:
    """The input/output signature clients see for a parsed ``ModelConfig``.

    Dims are the full tensor shape a client sends or receives: when ``max_batch_size > 0`` Triton
    adds an implicit leading batch dimension, shown here as ``-1``.

    Raises ``ValueError`` if the config declares no input or no output.
    """
    batch = [-1] if config.max_batch_size > 0 else []

    def specs(
        tensors: RepeatedCompositeFieldContainer[ModelInput]
        | RepeatedCompositeFieldContainer[ModelOutput],
    ) -> list[TensorSpec]:
        return [
            TensorSpec(
                name=t.name, datatype=wire_datatype(t.data_type), dims=[*batch, *list(t.dims)]
            )
            for t in tensors
        ]

    inputs, outputs = specs(config.input), specs(config.output)
    if not inputs or not outputs:
        raise ValueError("config.pbtxt must declare at least one input and one output")
    return Signature(inputs=inputs, outputs=outputs)


def signature_mismatches(declared: Signature, config: ModelConfig) -> list[str]:
    """Differences between a declared signature and a config's, as readable sentences.

    Empty when they match (same tensor names, datatypes and dims; order does not matter).
    """
    actual = signature_of(config)
    problems: list[str] = []
    for kind in ("inputs", "outputs"):
        want = {t.name: t for t in getattr(declared, kind)}
        have = {t.name: t for t in getattr(actual, kind)}
        for name in sorted(want.keys() - have.keys()):
            problems.append(f"{kind[:-1]} {name!r} is not in config.pbtxt")
        for name in sorted(have.keys() - want.keys()):
            problems.append(f"config.pbtxt {kind[:-1]} {name!r} is missing from the signature")
        for name in sorted(want.keys() & have.keys()):
            w, h = want[name], have[name]
            if (w.datatype, w.dims) != (h.datatype, h.dims):
                problems.append(
                    f"{kind[:-1]} {name!r}: signature says {w.datatype}{w.dims}, "
                    f"config.pbtxt says {h.datatype}{h.dims}"
                )
    return problems


def config_to_json(config: ModelConfig, *, versions: list[int]) -> str:
    """JSON of ``config`` with ``version_policy`` = specific ``versions``, for the load API.

    The result is the ``config`` parameter of ``POST /v2/repository/models/{name}/load``, which
    makes Triton use it instead of the config.pbtxt file (Triton docs: "Model Repository
    Extension", load with override config). Raises ``ValueError`` if ``versions`` is empty.
    """
    if not versions:
        raise ValueError("versions must name at least one version to load")
    message = ModelConfig()
    message.CopyFrom(config)
    message.version_policy.Clear()
    message.version_policy.specific.versions.extend(sorted(set(versions)))
    as_dict = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return json.dumps(as_dict, sort_keys=True)
