"""The engine's pins are the versions the committed go.mod files require, the binaries are
stamped with them, and the Python SDK asks for the provider version we build."""

from __future__ import annotations

import importlib.metadata

import pytest

from infra.controlplane.gomod import requirements
from infra.engine import components
from infra.engine.embeds import EMBED_DIR
from infra.gobuild import Binary

BY_NAME = {b.name: b for b in components.BINARIES}


@pytest.mark.parametrize("module", sorted(components.PINS))
def test_wrapper_go_mod_requires_the_pinned_versions(module: str) -> None:
    gomod = (components.MODULES_DIR / module / "go.mod").read_text()
    for pin in components.PINS[module]:
        assert pin in requirements(gomod)
    assert (components.MODULES_DIR / module / "go.sum").is_file()


@pytest.mark.parametrize("binary", components.BINARIES, ids=lambda b: b.name)
def test_every_binary_is_its_wrapper_modules_tool_or_main_package(binary: Binary) -> None:
    gomod = (binary.module_dir / "go.mod").read_text()
    assert f"tool {binary.package}\n" in gomod or f"module {binary.package}\n" in gomod


def test_the_cli_is_stamped_with_its_release() -> None:
    cli = BY_NAME["pulumi"]
    assert cli.package == "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
    assert cli.ldflags == ("-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.274.1",)


def test_the_provider_is_stamped_with_the_release_its_commit_is() -> None:
    provider = BY_NAME["pulumi-resource-kubernetes"]
    assert provider.ldflags == (
        "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=4.25.0",
    )
    # The pseudo-version names the commit: v4.0.0-<time>-<first 12 hex digits>.
    version = components.KUBERNETES_PROVIDER_MODULE_VERSION
    assert version.rsplit("-", 1)[1] == components.KUBERNETES_PROVIDER_COMMIT[:12]


def test_the_provider_main_embeds_what_its_prepare_step_copies() -> None:
    provider = BY_NAME["pulumi-resource-kubernetes"]
    main = (provider.module_dir / "main.go").read_text()
    assert provider.prepare is not None
    for name in components.KUBERNETES_PROVIDER_EMBEDS:
        assert f"//go:embed {EMBED_DIR}/{name}\n" in main
    assert 'provider.Serve("kubernetes", version.Version,' in main


def test_the_python_sdk_asks_for_the_provider_we_build() -> None:
    """Otherwise the engine would look for (and try to download) another provider version."""
    assert importlib.metadata.version("pulumi_kubernetes") == components.KUBERNETES_PROVIDER_VERSION


def test_release_name_names_both_pins() -> None:
    assert components.release_name() == "engine-pulumi-v3.274.1-kubernetes-v4.25.0"
