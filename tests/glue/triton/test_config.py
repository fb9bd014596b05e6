"""The static ``ModelConfig`` stubs in glue/triton/config.py match Triton's generated messages.

mypy checks the project against those stubs; the code runs against
``tritonclient.grpc.model_config_pb2``. This test reads the stubs' source and checks every
declared field against the generated message's descriptor (name, scalar/message type,
repeated or not), so the two cannot drift apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from tritonclient.grpc import model_config_pb2

from glue.triton import config

_INT_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_ENUM,
}


def stub_fields() -> list[tuple[str, str, str]]:
    """``(message, field, annotation)`` for every field the ``TYPE_CHECKING`` stubs declare."""
    tree = ast.parse(Path(config.__file__).read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    found: list[tuple[str, str, str]] = []

    def visit(cls: ast.ClassDef, prefix: str) -> None:
        name = prefix + cls.name
        for item in cls.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                found.append((name, item.target.id, ast.unparse(item.annotation)))
            elif isinstance(item, ast.FunctionDef) and item.returns is not None:
                found.append((name, item.name, ast.unparse(item.returns)))
            elif isinstance(item, ast.ClassDef):
                visit(item, name + ".")

    for node in block.body:
        if isinstance(node, ast.ClassDef):
            visit(node, "")
    return found


def descriptor(message: str) -> Descriptor:
    cls: object = model_config_pb2
    for part in message.split("."):
        cls = getattr(cls, part)
    return cls.DESCRIPTOR  # type: ignore[attr-defined]


def test_the_stubs_declare_the_fields_the_project_reads() -> None:
    declared = {(m, f) for m, f, _ in stub_fields()}
    assert {
        ("ModelConfig", "name"),
        ("ModelConfig", "backend"),
        ("ModelConfig", "input"),
        ("ModelConfig", "version_policy"),
        ("ModelConfig", "parameters"),
        ("ModelParameter", "string_value"),
        ("ModelVersionPolicy.Specific", "versions"),
    } <= declared


@pytest.mark.parametrize(("message", "field", "annotation"), stub_fields(), ids=lambda v: str(v))
def test_each_stub_field_matches_the_generated_message(
    message: str, field: str, annotation: str
) -> None:
    real = descriptor(message).fields_by_name.get(field)
    assert real is not None, f"{message}.{field} is not a field of Triton's {message}"
    if annotation == "str":
        assert real.type == FieldDescriptor.TYPE_STRING and not real.is_repeated
    elif annotation == "int":
        assert real.type in _INT_TYPES and not real.is_repeated
    elif annotation == "RepeatedScalarFieldContainer[int]":
        assert real.type in _INT_TYPES and real.is_repeated
    elif annotation.startswith("RepeatedCompositeFieldContainer["):
        element = annotation.removeprefix("RepeatedCompositeFieldContainer[").removesuffix("]")
        assert real.is_repeated and real.message_type is not None
        assert real.message_type.full_name == f"inference.{element}"
    elif annotation.startswith("MessageMap[str, "):
        value = annotation.removeprefix("MessageMap[str, ").removesuffix("]")
        entry = real.message_type
        assert real.is_repeated and entry is not None and entry.GetOptions().map_entry
        assert entry.fields_by_name["key"].type == FieldDescriptor.TYPE_STRING
        assert entry.fields_by_name["value"].message_type.full_name == f"inference.{value}"
    else:  # a singular message field
        assert not real.is_repeated and real.message_type is not None
        assert real.message_type.full_name == f"inference.{annotation}"


def test_runtime_names_are_the_generated_classes() -> None:
    assert config.ModelConfig is model_config_pb2.ModelConfig
    assert config.ModelInput is model_config_pb2.ModelInput
    assert config.ModelOutput is model_config_pb2.ModelOutput
    assert config.ModelVersionPolicy is model_config_pb2.ModelVersionPolicy
    assert config.ModelParameter is model_config_pb2.ModelParameter
    assert isinstance(config.parse_model_config('name: "m"'), model_config_pb2.ModelConfig)
