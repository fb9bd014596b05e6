"""The pins in ``infra.controlplane.components`` are the versions the committed go.mod files
require, and the Kubernetes binaries are stamped with the pinned release."""

from __future__ import annotations

import pytest

from infra.controlplane import components
from infra.controlplane.gomod import requirements


@pytest.mark.parametrize("module", sorted(components.PINS))
def test_wrapper_go_mod_requires_the_pinned_version(module: str) -> None:
    path, version = components.PINS[module]
    gomod = (components.MODULES_DIR / module / "go.mod").read_text()
    assert (path, version) in requirements(gomod)
    assert (components.MODULES_DIR / module / "go.sum").is_file()


@pytest.mark.parametrize("binary", components.BINARIES, ids=lambda b: b.name)
def test_every_binary_is_a_tool_of_its_wrapper_module(binary: components.Binary) -> None:
    gomod = (binary.module_dir / "go.mod").read_text()
    assert f"\t{binary.package}\n" in gomod or f"tool {binary.package}\n" in gomod


def test_kubernetes_ldflags_stamp_both_version_packages() -> None:
    flags = components.kubernetes_version_ldflags("v1.35.4", "2026-04-15T18:01:22Z")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.35.4" in flags
        assert f"-X {package}.gitMajor=1" in flags
        assert f"-X {package}.gitMinor=35" in flags
        assert f"-X {package}.gitTreeState=archive" in flags
        assert f"-X {package}.buildDate=2026-04-15T18:01:22Z" in flags
        assert f"-X {package}.gitCommit=" in flags


@pytest.mark.parametrize("bad", ["1.35.4", "v1.35", "v1.35.x"])
def test_kubernetes_ldflags_refuse_a_malformed_version(bad: str) -> None:
    with pytest.raises(ValueError, match=r"v1\.35\.4"):
        components.kubernetes_version_ldflags(bad, "2026-01-01T00:00:00Z")


def test_release_name_names_every_pin() -> None:
    assert components.release_name() == "controlplane-k8s-v1.35.4-etcd-v3.6.16-kwok-v0.7.0"
