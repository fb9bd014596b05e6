"""The artifact checks registration and the serving agent share (glue.triton.layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue.triton.layout import (
    LayoutError,
    block_bytecode_cache,
    check_artifact,
    check_layout,
    is_version_name,
    manifest_version_dir,
)
from tests.support.triton import write_model


def make(tmp_path: Path, **kwargs: object) -> Path:
    return write_model(tmp_path / "artifact", "digits", 2.0, **kwargs)  # type: ignore[arg-type]


def test_valid_artifact_passes(tmp_path: Path) -> None:
    root = make(tmp_path)
    (root / "metrics.json").write_text("{}")  # extra root files are allowed and ignored
    (root / "1" / "weights").mkdir()
    (root / "1" / "weights" / "w.bin").write_bytes(b"\0")
    checked = check_layout(root, "digits")
    assert checked.version_dir == root / "1"
    assert checked.config.name == "digits" and checked.config.backend == "python"
    assert checked.config_text == (root / "config.pbtxt").read_text()


def test_any_single_numeric_version_dir_is_accepted(tmp_path: Path) -> None:
    root = make(tmp_path, version_dir="7")
    assert check_layout(root, "digits").version_dir.name == "7"


@pytest.mark.parametrize(
    ("mutate", "field", "hint"),
    [
        (lambda r: (r / "config.pbtxt").unlink(), "config.pbtxt", "must hold the Triton"),
        (
            lambda r: (r / "config.pbtxt").write_text('name: "digits"\nbogus_field: 1\n'),
            "config.pbtxt",
            "2:1",
        ),
        (
            lambda r: (r / "config.pbtxt").write_text('name: "other"\nbackend: "python"\n'),
            "config.pbtxt:name",
            'set name: "digits"',
        ),
        (
            lambda r: (r / "config.pbtxt").write_text('name: "digits"\n'),
            "config.pbtxt:backend",
            "backend",
        ),
        (lambda r: (r / "config.pbtxt").write_bytes(b"\xff\xfe"), "config.pbtxt", "UTF-8"),
        (
            lambda r: (r / "2").mkdir() or (r / "2" / "model.py").write_text(""),
            ".",
            "exactly one version directory",
        ),
        (lambda r: (r / "configs").mkdir(), "configs/", "positive integer"),
        (lambda r: (r / "1").rename(r / "01"), "01/", "positive integer"),
        (lambda r: (r / "1" / "model.py").unlink(), "1/model.py", "loads 1/model.py"),
        (lambda r: (r / "1" / "link").symlink_to(r / "config.pbtxt"), "1/link", "symlink"),
    ],
    ids=[
        "no-config",
        "unparsable",
        "wrong-name",
        "no-backend",
        "not-utf8",
        "two-versions",
        "configs-dir",
        "leading-zero",
        "no-model-file",
        "symlink",
    ],
)
def test_invalid_artifacts_name_the_field(tmp_path: Path, mutate, field: str, hint: str) -> None:
    root = make(tmp_path)
    mutate(root)
    with pytest.raises(LayoutError) as caught:
        check_layout(root, "digits")
    assert caught.value.field == field
    assert hint in str(caught.value)


def test_no_version_dir(tmp_path: Path) -> None:
    root = make(tmp_path)
    for path in sorted((root / "1").iterdir()):
        path.unlink()
    (root / "1").rmdir()
    with pytest.raises(LayoutError, match="found none"):
        check_layout(root, "digits")


def test_empty_version_dir(tmp_path: Path) -> None:
    root = make(tmp_path)
    for path in sorted((root / "1").iterdir()):
        path.unlink()
    with pytest.raises(LayoutError, match="holds no file") as caught:
        check_layout(root, "digits")
    assert caught.value.field == "1/"


def test_label_filename_is_refused(tmp_path: Path) -> None:
    root = make(tmp_path)
    text = (
        (root / "config.pbtxt")
        .read_text()
        .replace(
            "dims: [ -1 ] } ]\ninstance", 'dims: [ -1 ] label_filename: "labels.txt" } ]\ninstance'
        )
    )
    (root / "config.pbtxt").write_text(text)
    with pytest.raises(LayoutError) as caught:
        check_layout(root, "digits")
    assert caught.value.field == "config.pbtxt:output[0].label_filename"


def test_default_model_filename_must_exist(tmp_path: Path) -> None:
    root = make(tmp_path, config_extra='default_model_filename: "net.py"\n')
    with pytest.raises(LayoutError) as caught:
        check_layout(root, "digits")
    assert caught.value.field == "1/net.py"
    (root / "1" / "net.py").write_text("")
    check_layout(root, "digits")


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="not a directory"):
        check_layout(tmp_path / "missing", "digits")


@pytest.mark.parametrize(
    ("files", "result"),
    [
        (["config.pbtxt", "1/model.py", "metrics.json"], "1"),
        (["config.pbtxt", "3/a/b.bin", "3/model.py"], "3"),
    ],
)
def test_manifest_version_dir(files: list[str], result: str) -> None:
    assert manifest_version_dir(files) == result


@pytest.mark.parametrize(
    ("files", "field"),
    [
        (["1/model.py"], "config.pbtxt"),
        (["config.pbtxt"], "."),
        (["config.pbtxt", "1/model.py", "2/model.py"], "."),
        (["config.pbtxt", "1/model.py", "configs/a.pbtxt"], "configs/"),
    ],
)
def test_manifest_version_dir_refusals(files: list[str], field: str) -> None:
    with pytest.raises(LayoutError) as caught:
        manifest_version_dir(files)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("1", True),
        ("42", True),
        ("0", False),
        ("01", False),
        ("a", False),
        ("1a", False),
        ("", False),
        ("\uff11", False),  # a non-ASCII digit
    ],
)
def test_is_version_name(name: str, ok: bool) -> None:
    assert is_version_name(name) is ok


def test_block_bytecode_cache(tmp_path: Path) -> None:
    root = make(tmp_path)
    (root / "1" / "pkg").mkdir()
    (root / "1" / "pkg" / "util.py").write_text("")
    (root / "1" / "data").mkdir()  # no .py: left alone
    (root / "1" / "shipped").mkdir()
    (root / "1" / "shipped" / "a.py").write_text("")
    (root / "1" / "shipped" / "__pycache__").mkdir()  # shipped cache: left alone
    created = block_bytecode_cache(root / "1")
    assert sorted(p.relative_to(root).as_posix() for p in created) == [
        "1/__pycache__",
        "1/pkg/__pycache__",
    ]
    assert all(p.is_file() and p.stat().st_size == 0 for p in created)
    assert block_bytecode_cache(root / "1") == []  # idempotent


# -- check_artifact: the rules registration and the agent share -----------------------------------

PYTHON_CONFIG = 'name: "digits"\nbackend: "python"\n'
ENV_PARAMETER = 'parameters {{ key: "EXECUTION_ENV_PATH" value: {{ string_value: "{}" }} }}\n'


def test_check_artifact_accepts_a_valid_file_list() -> None:
    checked = check_artifact(
        ["config.pbtxt", "3/model.py", "metrics.json"], PYTHON_CONFIG, "digits"
    )
    assert checked.version == "3" and checked.config.backend == "python"


@pytest.mark.parametrize(
    ("files", "config", "field"),
    [
        (["config.pbtxt", "1/net.py"], PYTHON_CONFIG, "1/model.py"),  # python without model.py
        (["config.pbtxt", "1/model.py"], 'name: "digits"\n', "config.pbtxt:backend"),
        (["config.pbtxt", "1/model.py"], 'name: "other"\nbackend: "python"\n', "config.pbtxt:name"),
        (
            ["config.pbtxt", "1/model.onnx"],
            'name: "digits"\nplatform: "onnxruntime_onnx"\ndefault_model_filename: "net.onnx"\n',
            "1/net.onnx",
        ),
        (["config.pbtxt", "1/model.py", "2/model.py"], PYTHON_CONFIG, "."),
        (["config.pbtxt", "1/"], PYTHON_CONFIG, "1/"),  # an empty version directory
        (["1/model.py"], PYTHON_CONFIG, "config.pbtxt"),
    ],
    ids=["no-model-py", "no-backend", "wrong-name", "no-default-file", "two", "empty", "no-cfg"],
)
def test_check_artifact_refusals_name_the_field(files: list[str], config: str, field: str) -> None:
    with pytest.raises(LayoutError) as caught:
        check_artifact(files, config, "digits")
    assert caught.value.field == field


def test_default_model_filename_may_be_a_directory() -> None:
    config = 'name: "digits"\nplatform: "tensorflow_savedmodel"\n'
    config += 'default_model_filename: "model.savedmodel"\n'
    files = ["config.pbtxt", "1/model.savedmodel/saved_model.pb"]
    assert check_artifact(files, config, "digits").version == "1"


@pytest.mark.parametrize(
    "value",
    [
        "$$TRITON_MODEL_DIRECTORY/python-env.tar.gz",  # at the model root: never installed
        "$$TRITON_MODEL_DIRECTORY/1/python-env.tar.gz",  # installed under the registry's number
        "$$TRITON_MODEL_DIRECTORY",
        "python-env.tar.gz",  # relative to tritonserver's working directory
        "",
    ],
)
def test_execution_env_path_must_be_absolute(value: str) -> None:
    files = ["config.pbtxt", "1/model.py", "1/python-env.tar.gz", "python-env.tar.gz"]
    with pytest.raises(LayoutError) as caught:
        check_artifact(files, PYTHON_CONFIG + ENV_PARAMETER.format(value), "digits")
    assert caught.value.field == "config.pbtxt:parameters[EXECUTION_ENV_PATH]"


def test_execution_env_path_of_the_serving_image_is_accepted() -> None:
    config = PYTHON_CONFIG + ENV_PARAMETER.format("/opt/envs/py311.tar.gz")
    check_artifact(["config.pbtxt", "1/model.py"], config, "digits")
    config += 'parameters { key: "OTHER" value: { string_value: "$$TRITON_MODEL_DIRECTORY/x" } }\n'
    check_artifact(["config.pbtxt", "1/model.py"], config, "digits")  # only the env path


def test_the_agent_applies_the_same_check_to_a_staged_directory(tmp_path: Path) -> None:
    root = make(tmp_path, config_extra=ENV_PARAMETER.format("$$TRITON_MODEL_DIRECTORY/env.tgz"))
    (root / "env.tgz").write_bytes(b"tar")
    with pytest.raises(LayoutError) as caught:
        check_layout(root, "digits")
    assert caught.value.field == "config.pbtxt:parameters[EXECUTION_ENV_PATH]"
