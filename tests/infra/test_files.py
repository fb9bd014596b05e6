"""infra/files.py: atomic writes replace whole files, set the mode, and leave nothing behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from infra.files import write_atomic


def test_write_creates_folders_and_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.yaml"
    assert write_atomic(target, "first: 1\n") == target
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["file.yaml"]  # no temporary left


def test_mode_is_set_before_the_file_appears(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "tool", b"#!/bin/sh\n", mode=0o755)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "keep", "old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]
