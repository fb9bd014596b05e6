"""The disk budget on a real filesystem: usage like ``du``, what a version needs, the fit."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from glue.artifacts.manifest import FileDigest, Manifest, build_manifest
from glue.serving_agent.disk import (
    BUDGET_VARIABLE,
    DiskBudget,
    InsufficientSpace,
    Space,
    disk_usage,
    required_bytes,
)

DIGEST = "0" * 64


def test_disk_usage_counts_allocated_blocks_like_du(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "m" / "1").mkdir(parents=True)
    (root / "m" / "1" / "w.bin").write_bytes(os.urandom(100_000))
    (root / "m" / "config.pbtxt").write_text("name: 'm'\n")
    (root / "empty").write_bytes(b"")
    du = subprocess.run(
        ["du", "-s", "--block-size=1", str(root)], capture_output=True, text=True, check=True
    )
    assert disk_usage(root) == int(du.stdout.split()[0])
    assert disk_usage(tmp_path / "missing") == 0


def test_disk_usage_counts_a_hard_linked_file_once_and_follows_no_symlink(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.bin").write_bytes(os.urandom(64_000))
    before = disk_usage(root)
    os.link(root / "a.bin", root / "b.bin")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "big.bin").write_bytes(os.urandom(200_000))
    (root / "link").symlink_to(tmp_path / "outside")
    link_blocks = os.lstat(root / "link").st_blocks * 512
    assert disk_usage(root) == before + link_blocks


def test_required_bytes_rounds_files_to_blocks_and_counts_the_config_copy_and_directories() -> None:
    manifest = Manifest(
        files={
            "config.pbtxt": FileDigest(sha256=DIGEST, size=300),
            "1/model.py": FileDigest(sha256=DIGEST, size=4097),
            "1/weights/w.bin": FileDigest(sha256=DIGEST, size=0),
        }
    )
    # files: 4096 + 8192 + 0; config copy: 4096; directories ".", "1", "1/weights": 3 blocks
    assert required_bytes(manifest, 4096) == 4096 + 8192 + 4096 + 3 * 4096


def test_required_bytes_is_at_least_what_an_installed_copy_takes(tmp_path: Path) -> None:
    source = tmp_path / "artifact"
    (source / "1").mkdir(parents=True)
    (source / "config.pbtxt").write_text('name: "m"\nbackend: "python"\n')
    (source / "1" / "model.py").write_text("x = 1\n" * 1000)
    (source / "1" / "w.bin").write_bytes(os.urandom(1_000_000))
    manifest = build_manifest(source)
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    shutil.copy(source / "config.pbtxt", tmp_path / "meta.pbtxt")
    taken = disk_usage(copy) + disk_usage(tmp_path / "meta.pbtxt")
    need = required_bytes(manifest, os.statvfs(tmp_path).f_bsize)
    assert taken <= need <= taken + 4 * os.statvfs(tmp_path).f_bsize


def test_space_available_is_bounded_by_the_budget_and_the_filesystem() -> None:
    assert Space(usage=70, free=1000, budget=100).available == 30
    assert Space(usage=70, free=10, budget=100).available == 10
    assert Space(usage=170, free=1000, budget=100).available == 0
    assert Space(usage=70, free=1000, budget=None).available == 1000


def manifest_of(size: int) -> Manifest:
    return Manifest(
        files={
            "config.pbtxt": FileDigest(sha256=DIGEST, size=100),
            "1/w.bin": FileDigest(sha256=DIGEST, size=size),
        }
    )


def test_check_fit_refuses_naming_the_need_and_the_budget(tmp_path: Path) -> None:
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "1" / "w.bin").write_bytes(os.urandom(3 << 20))
    usage = disk_usage(tmp_path)
    budget = DiskBudget(tmp_path, usage + (1 << 20))
    small, large = manifest_of(100_000), manifest_of(3 << 20)
    assert budget.fits(small) and not budget.fits(large)
    budget.check_fit("m", 2, small)
    with pytest.raises(InsufficientSpace) as caught:
        budget.check_fit("m", 3, large)
    error = caught.value
    assert error.errno == errno.ENOSPC and isinstance(error, OSError)
    assert error.need == budget.need(large) and error.available == (1 << 20)
    message = str(error)
    assert message.startswith(f"version 3 of m needs 3.0 MiB ({error.need} bytes) on disk")
    assert "1.0 MiB (1048576 bytes) left of its budget of" in message
    assert f"({usage + (1 << 20)} bytes) ({BUDGET_VARIABLE}" in message
    assert "the served version keeps serving" in message


def test_without_a_budget_the_filesystem_free_space_decides(tmp_path: Path) -> None:
    unlimited = DiskBudget(tmp_path, None)
    free = shutil.disk_usage(tmp_path).free
    assert unlimited.space().available == free
    assert unlimited.fits(manifest_of(1 << 20))
    with pytest.raises(InsufficientSpace) as caught:
        unlimited.check_fit("m", 1, manifest_of(free + (1 << 30)))
    assert "the filesystem of the model repository" in str(caught.value)
    assert f"{BUDGET_VARIABLE} is not set" in str(caught.value)
