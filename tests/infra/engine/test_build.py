"""The engine's build front end, and the built binaries themselves when they are in place.

The binary tests skip when ``make engine`` has not run; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2_grpc

from infra import gobuild
from infra.engine import build, components
from tests.support.controlplane import in_ci

TOOLCHAIN = "go version go1.26.8 linux/amd64"


def test_cache_dir_is_absolute_and_named_after_the_pins(tmp_path: Path) -> None:
    assert build.cache_dir(tmp_path) == tmp_path.resolve() / components.release_name()


def test_the_release_is_both_binaries_behind_make_engine() -> None:
    assert [b.name for b in build.RELEASE.binaries] == ["pulumi", "pulumi-resource-kubernetes"]
    assert build.RELEASE.make_target == "engine"


def test_installed_names_what_is_missing_and_make_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gobuild, "go_version", lambda: TOOLCHAIN)
    message = r"Pulumi engine binaries missing or stale in .*: pulumi, pulumi-resource-kubernetes"
    with pytest.raises(build.BuildError, match=message + r" \(run `make engine`\)"):
        build.installed(tmp_path)


@pytest.fixture(scope="module")
def engine() -> dict[str, Path]:
    """Paths of the built, current engine binaries (skip, or fail under CI=true, without)."""
    try:
        return build.installed()
    except build.BuildError as exc:
        if in_ci():
            pytest.fail(f"engine unavailable in CI: {exc}", pytrace=False)
        pytest.skip(str(exc))


def test_pulumi_version_prints_the_pinned_release(engine: dict[str, Path], tmp_path: Path) -> None:
    env = {**os.environ, "PULUMI_HOME": str(tmp_path), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    result = subprocess.run(
        [engine["pulumi"], "version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == components.PULUMI_VERSION


def test_the_provider_serves_and_reports_the_pinned_release(engine: dict[str, Path]) -> None:
    """Started alone, the provider prints its port and answers GetPluginInfo on loopback."""
    provider = engine["pulumi-resource-kubernetes"]
    assert os.access(provider, os.X_OK)
    with subprocess.Popen(
        [provider], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = provider_pb2_grpc.ResourceProviderStub(channel)
                info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
        finally:
            process.terminate()
    assert info.version == components.KUBERNETES_PROVIDER_VERSION
