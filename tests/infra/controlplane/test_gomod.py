"""The kubernetes wrapper module's staging ``replace`` lines are generated from the pinned
release's own go.mod, and the committed go.mod is what the generator writes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.controlplane import gomod
from infra.controlplane.components import KUBERNETES_MODULE, KUBERNETES_VERSION

UPSTREAM = """\
module k8s.io/kubernetes

go 1.25.0

require (
\tgithub.com/blang/semver/v4 v4.0.0
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0 // comment
\tk8s.io/utils v0.0.0-20250604170112-4c0f3b243397
)

require k8s.io/kms v0.0.0 // indirect

replace k8s.io/api => ./staging/src/k8s.io/api
"""


def test_staging_modules_are_exactly_the_v0_0_0_requires() -> None:
    assert gomod.staging_modules(UPSTREAM) == ["k8s.io/api", "k8s.io/client-go", "k8s.io/kms"]


def test_requirements_reads_blocks_and_single_lines() -> None:
    assert ("k8s.io/utils", "v0.0.0-20250604170112-4c0f3b243397") in gomod.requirements(UPSTREAM)
    assert ("github.com/blang/semver/v4", "v4.0.0") in gomod.requirements(UPSTREAM)


@pytest.mark.parametrize(("release", "tag"), [("v1.35.4", "v0.35.4"), ("v1.9.10", "v0.9.10")])
def test_staging_tag(release: str, tag: str) -> None:
    assert gomod.staging_tag(release) == tag


@pytest.mark.parametrize("bad", ["1.35.4", "v2.0.0", "v1.35", "v1.35.4-rc.0"])
def test_staging_tag_refuses_other_versions(bad: str) -> None:
    with pytest.raises(ValueError, match=r"v1\.35\.4"):
        gomod.staging_tag(bad)


def test_replace_block_pins_every_staging_module_to_the_release_tag() -> None:
    block = gomod.replace_block(UPSTREAM, "v1.35.4")
    assert block.startswith(gomod.MARKER)
    assert "\tk8s.io/api => k8s.io/api v0.35.4\n" in block
    assert "\tk8s.io/kms => k8s.io/kms v0.35.4\n" in block
    assert "k8s.io/utils" not in block
    assert block.endswith("\n)")


def test_replace_block_refuses_a_go_mod_without_placeholders() -> None:
    with pytest.raises(ValueError, match=r"v0\.0\.0"):
        gomod.replace_block("module x\n\nrequire k8s.io/api v0.35.4\n", "v1.35.4")


def test_with_replace_block_appends_then_replaces_in_place() -> None:
    wrapper = "module w\n\ngo 1.25.0\n\nrequire k8s.io/kubernetes v1.35.4\n"
    first = gomod.with_replace_block(wrapper, gomod.replace_block(UPSTREAM, "v1.35.4"))
    assert first.startswith(wrapper) and first.endswith(")\n")
    assert gomod.with_replace_block(first, gomod.replace_block(UPSTREAM, "v1.35.4")) == first
    bumped = gomod.with_replace_block(
        first + "\ntool x\n", gomod.replace_block(UPSTREAM, "v1.36.0")
    )
    assert "k8s.io/api v0.36.0" in bumped and "v0.35.4" not in bumped
    assert bumped.endswith(")\n\ntool x\n")


def test_gosum_gomod_hash_finds_the_go_mod_line() -> None:
    gosum = "k8s.io/x v1.0.0 h1:zip=\nk8s.io/x v1.0.0/go.mod h1:mod=\n"
    assert gomod.gosum_gomod_hash(gosum, "k8s.io/x", "v1.0.0") == "h1:mod="
    assert gomod.gosum_gomod_hash(gosum, "k8s.io/x", "v2.0.0") is None


def test_verified_upstream_gomod_refuses_a_file_go_sum_does_not_name(tmp_path: Path) -> None:
    path = tmp_path / "v1.35.4.mod"
    path.write_text(UPSTREAM)
    gosum = f"{KUBERNETES_MODULE} {KUBERNETES_VERSION}/go.mod h1:AAAA=\n"
    with pytest.raises(gomod.GoModError, match=r"differs from go\.sum"):
        gomod.verified_upstream_gomod(path, gosum)
    good = f"{KUBERNETES_MODULE} {KUBERNETES_VERSION}/go.mod {gomod.gomod_hash(path.read_bytes())}"
    assert gomod.verified_upstream_gomod(path, good) == UPSTREAM


def _cached_upstream_gomod() -> Path | None:
    """The pinned k8s.io/kubernetes go.mod in Go's module cache (after `make controlplane`)."""
    go = shutil.which("go")
    if go is None:
        return None
    cache = subprocess.run(
        [go, "env", "GOMODCACHE"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    path = Path(cache, "cache/download", KUBERNETES_MODULE, "@v", f"{KUBERNETES_VERSION}.mod")
    return path if path.is_file() else None


def test_committed_go_mod_is_what_the_generator_writes() -> None:
    upstream = _cached_upstream_gomod()
    if upstream is None:
        reason = (
            f"{KUBERNETES_MODULE}@{KUBERNETES_VERSION} not in Go's module cache (make controlplane)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    committed = gomod.WRAPPER_GOMOD.read_text()
    gosum = gomod.WRAPPER_GOMOD.with_name("go.sum").read_text()
    assert gomod.gosum_gomod_hash(gosum, KUBERNETES_MODULE, KUBERNETES_VERSION) == gomod.gomod_hash(
        upstream.read_bytes()
    ), "the module cache's go.mod is not the one go.sum pins"
    text = gomod.verified_upstream_gomod(upstream, gosum)
    regenerated = gomod.with_replace_block(committed, gomod.replace_block(text, KUBERNETES_VERSION))
    assert regenerated == committed, "run python tools/controlplane/update_gomod.py"
