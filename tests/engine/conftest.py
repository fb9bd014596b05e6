"""Fixtures of the engine tests: one control plane for the session with KWOK nodes for the
``local`` platform stack's node pools, the stand-ins a real cluster would bring
(``infra.controlplane.standins``), and an ``Engine`` whose stack files are a copy of ``stacks/``
(tests edit them) and whose state lives in the session's temp folder (``make test-engine``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.controlplane.harness import ControlPlane
from infra.controlplane.nodes import stack_nodes, stack_pools
from infra.controlplane.standins import StandIns
from infra.engine.driver import Engine
from tests.support.controlplane import control_plane, control_plane_binaries, loopback_namespace
from tests.support.engine import engine_binaries
from tests.support.helm import REPO_ROOT

__all__ = ["control_plane", "control_plane_binaries", "engine_binaries", "loopback_namespace"]

#: The passphrase of the test stacks' secrets provider.
PASSPHRASE = "kubeai-engine-tests"
#: The kubeconfig context the ``local`` stack names (``kubernetes:context``).
LOCAL_CONTEXT = "kind-kubeai"


@pytest.fixture(scope="session")
def plane(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    """The session's plane with KWOK nodes for ``local``'s pools and the stand-ins running."""
    pools = stack_pools("local", REPO_ROOT / "stacks")
    control_plane.add_nodes(stack_nodes(pools, per_pool=2, system_nodes=2))
    with StandIns(control_plane.client):
        yield control_plane


@pytest.fixture(scope="session")
def api(plane: ControlPlane) -> Iterator[httpx.Client]:
    """An admin client of the session's plane."""
    with plane.client() as client:
        yield client


@pytest.fixture(scope="session")
def stacks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's ``stacks/`` the tests may edit."""
    target = tmp_path_factory.mktemp("stacks") / "stacks"
    shutil.copytree(REPO_ROOT / "stacks", target)
    return target


def make_engine(
    plane: ControlPlane, folder: Path, stacks_dir: Path, engine_binaries: dict[str, Path]
) -> Engine:
    """An Engine on ``plane`` with its state in ``folder`` and stack files in ``stacks_dir``."""
    assert engine_binaries  # built (the fixture skips or fails otherwise)
    folder.mkdir(parents=True, exist_ok=True)
    return Engine(
        stacks_dir=stacks_dir,
        state_dir=folder / "state",
        kubeconfig=plane.write_kubeconfig(folder / "kubeconfig", [LOCAL_CONTEXT]),
        environ={**os.environ, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE},
    )


@pytest.fixture(scope="session")
def engine(
    plane: ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
    stacks_dir: Path,
    engine_binaries: dict[str, Path],
) -> Engine:
    """The session's Engine: every stack of the tests in one file backend, on ``plane``."""
    return make_engine(plane, tmp_path_factory.mktemp("engine"), stacks_dir, engine_binaries)
