"""Fixtures of the cluster tests: the session's control plane with KWOK nodes for the ``local``
platform stack's node pools plus prod-eks's GPU pools (``make test-cluster`` runs these tests)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.controlplane.harness import ControlPlane
from infra.controlplane.nodes import stack_nodes, stack_pools
from tests.support.controlplane import control_plane, control_plane_binaries, loopback_namespace
from tests.support.helm import REPO_ROOT

__all__ = ["control_plane", "control_plane_binaries", "loopback_namespace"]

STACKS_DIR = REPO_ROOT / "stacks"


@pytest.fixture(scope="session")
def kwok_nodes(control_plane: ControlPlane) -> list[dict[str, Any]]:
    """Node manifests created (and Ready) on the session's control plane."""
    pools = stack_pools("local", STACKS_DIR)
    pools += [pool for pool in stack_pools("prod-eks", STACKS_DIR) if pool.is_gpu]
    nodes = stack_nodes(pools, per_pool=2, system_nodes=1)
    control_plane.add_nodes(nodes)
    return nodes
