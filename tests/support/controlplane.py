"""Session fixtures for the real control plane (etcd, kube-apiserver, controller manager,
scheduler, KWOK) of ``infra.controlplane``, run on loopback in a loopback-only network namespace.

The pytest process itself must already be in such a namespace: ``make test-cluster`` runs
``unshare --net sh -c 'ip link set lo up && python -m pytest tests/cluster'``. Outside one, or
without the built binaries (``make controlplane``), the fixtures skip with the reason; with
``CI=true`` they fail instead, so CI can never pass by skipping them.

``control_plane_binaries`` -> ``{name: path}``; ``loopback_namespace`` passes only inside a
loopback-only namespace; ``control_plane`` -> a started ``ControlPlane`` (its logs stay in the
session's temp folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from infra.controlplane.build import BuildError, installed
from infra.controlplane.harness import ControlPlane
from infra.controlplane.netns import loopback_only_problem, unshare_problem


def in_ci() -> bool:
    """Whether ``CI=true`` (the fixtures fail instead of skipping)."""
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it under ``CI=true``."""
    if in_ci():
        pytest.fail(f"control plane unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def control_plane_binaries() -> dict[str, Path]:
    """Paths of the built, current control plane binaries."""
    try:
        return installed()
    except BuildError as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def loopback_namespace() -> None:
    """Passes only when this process is inside a loopback-only network namespace."""
    problem = loopback_only_problem()
    if problem:
        why_not = unshare_problem()
        how = f"and unshare is unavailable: {why_not}" if why_not else "run `make test-cluster`"
        unavailable(f"{problem}; {how}")


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory,
    loopback_namespace: None,
    control_plane_binaries: dict[str, Path],
) -> Iterator[ControlPlane]:
    """A started control plane for the whole session, stopped at its end."""
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), control_plane_binaries)
    with plane:
        yield plane
        peak = plane.peak_rss_bytes()
        shown = ", ".join(f"{name} {rss / 2**20:.0f}" for name, rss in peak.items())
        print(
            f"\ncontrol plane: /readyz after {plane.ready_after_s:.1f} s; peak RSS "
            f"{sum(peak.values()) / 2**20:.0f} MiB ({shown} MiB); logs in {plane.logs_dir}"
        )
