"""The installer: config comparison, installed-files check, atomic writes, install and cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue.artifacts.errors import ChecksumMismatch
from glue.artifacts.manifest import build_manifest
from glue.serving_agent.installer import (
    atomic_write,
    same_config,
    verify_installed_directory,
)
from glue.triton.config import parse_model_config
from tests.support.triton import CONFIG_PBTXT


def config(extra: str = ""):
    return parse_model_config(CONFIG_PBTXT.format(name="m", extra=extra))


def test_same_config_ignores_version_policy_only() -> None:
    assert same_config(config(), config("version_policy: { specific: { versions: [3] } }"))
    assert not same_config(
        config(), config('max_batch_size: 0\nparameters { key: "a" value: { string_value: "b" } }')
    )
    assert not same_config(config(), config('default_model_filename: "x.py"'))


def test_verify_installed_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "model.py").write_text("x = 1\n")
    (tmp_path / "sub" / "w.bin").write_bytes(b"\x00\x01")
    files = dict(build_manifest(tmp_path).files)
    (tmp_path / "__pycache__").write_text("")  # our blocker and Python caches are ignored
    (tmp_path / "sub" / "__pycache__").mkdir()
    (tmp_path / "sub" / "__pycache__" / "w.cpython-311.pyc").write_bytes(b"c")
    verify_installed_directory(tmp_path, files)

    (tmp_path / "extra.txt").write_text("")
    with pytest.raises(ChecksumMismatch, match=r"unexpected file 'extra\.txt'"):
        verify_installed_directory(tmp_path, files)
    (tmp_path / "extra.txt").unlink()
    (tmp_path / "sub" / "w.bin").write_bytes(b"\x00\x02")
    with pytest.raises(ChecksumMismatch) as caught:
        verify_installed_directory(tmp_path, files)
    assert caught.value.field == "sub/w.bin"
    (tmp_path / "sub" / "w.bin").unlink()
    with pytest.raises(ChecksumMismatch, match="missing"):
        verify_installed_directory(tmp_path, files)


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "config.pbtxt"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["config.pbtxt"]
