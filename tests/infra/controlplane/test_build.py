"""The control plane's build front end: its cache folder, staleness and the error naming
``make controlplane``. The build machinery itself (stamps, lock, atomic install, prepare steps)
is tested in tests/infra/test_gobuild.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import gobuild
from infra.controlplane import build, components

TOOLCHAIN = "go version go1.26.8 linux/amd64"


def test_stale_lists_missing_and_outdated_binaries_only(tmp_path: Path) -> None:
    dest = tmp_path / "tools"
    etcd, kwok = components.BINARIES[:2]
    assert build.stale(dest, [etcd, kwok], toolchain=TOOLCHAIN) == [etcd, kwok]
    (build.cache_dir(dest) / "bin").mkdir(parents=True)
    (build.cache_dir(dest) / "bin" / "etcd").write_bytes(b"\x7fELF")
    stamp = {"etcd": gobuild.stamp_key(etcd, TOOLCHAIN)}
    (build.cache_dir(dest) / gobuild.STAMP_FILE).write_text(json.dumps(stamp))
    assert build.stale(dest, [etcd, kwok], toolchain=TOOLCHAIN) == [kwok]
    assert build.stale(dest, [etcd], toolchain="go version go1.27.0 linux/amd64") == [etcd]


def test_cache_dir_is_absolute_and_named_after_the_pins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert build.cache_dir(tmp_path) == tmp_path.resolve() / components.release_name()
    monkeypatch.chdir(tmp_path)
    assert (
        build.cache_dir(Path(".tools")) == tmp_path.resolve() / ".tools" / components.release_name()
    )


def test_the_release_is_every_binary_behind_make_controlplane() -> None:
    assert build.RELEASE.binaries == components.BINARIES
    assert build.RELEASE.make_target == "controlplane"
    assert all(b.module_dir.parent == components.MODULES_DIR for b in components.BINARIES)


def test_installed_names_what_is_missing_and_make_controlplane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gobuild, "go_version", lambda: TOOLCHAIN)
    with pytest.raises(build.BuildError, match=r"kube-apiserver, .*\(run `make controlplane`\)"):
        build.installed(tmp_path)


def test_wrapper_modules_have_no_code_so_existing_stamps_stay_valid() -> None:
    """Their stamps hash go.mod and go.sum only (plus *.go files, which they must not grow)."""
    assert all(not list(b.module_dir.glob("*.go")) for b in components.BINARIES)
