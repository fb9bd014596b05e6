"""infra/cluster_identity.py: a team stack must reach the cluster its platform stack runs on."""

from __future__ import annotations

import pulumi
import pytest

from infra.cluster_identity import different_cluster
from infra.program import checked_platform
from tests.infra import factories
from tests.infra.test_program import platform_export


def test_same_cluster_or_nothing_to_compare_passes() -> None:
    assert different_cluster("local", "uid-a", "uid-a") is None
    assert different_cluster("local", None, "uid-a") is None  # platform exported before clusterUid
    assert different_cluster("local", "", "uid-a") is None
    assert different_cluster("local", "uid-a", "") is None  # offline render: nothing read


def test_another_cluster_is_named_with_both_uids_and_the_fix() -> None:
    message = different_cluster("local", "uid-a", "uid-b")
    assert message is not None
    assert "platform stack 'local'" in message
    assert "uid-a" in message and "uid-b" in message
    assert "KUBECONFIG" in message and "kubeai:platformStack" in message


def test_checked_platform_refuses_another_cluster_before_any_check() -> None:
    with pytest.raises(pulumi.RunError) as caught:
        checked_platform(factories.team_config(), platform_export()["platform"], ("uid-a", "uid-b"))
    assert "another cluster" in str(caught.value)
    raw = platform_export()["platform"]
    outputs = checked_platform(factories.team_config(), raw, ("uid-a", "uid-a"))
    assert outputs.volcano_enabled
