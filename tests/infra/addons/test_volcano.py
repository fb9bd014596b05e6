"""infra/addons/volcano.py: scheduler policy, admissions, the pinned retained Release."""

from __future__ import annotations

import pytest
import yaml

from infra import versions
from infra.addons.volcano import (
    DEFAULT_ADMISSIONS,
    VolcanoArgs,
    scheduler_config,
    volcano_values,
)
from infra.config import VolcanoAddon
from tests.infra import factories
from tests.infra.conftest import NAMESPACE, RELEASE

REQUIRED_PLUGINS = {
    "gang",
    "priority",
    "conformance",
    "drf",
    "proportion",
    "predicates",
    "nodeorder",
    "binpack",
}


def test_scheduler_config_actions_and_plugins() -> None:
    policy = yaml.safe_load(scheduler_config())
    actions = [a.strip() for a in policy["actions"].split(",")]
    assert actions == ["enqueue", "allocate", "preempt", "reclaim", "backfill"]
    plugins = {p["name"] for tier in policy["tiers"] for p in tier["plugins"]}
    assert plugins == REQUIRED_PLUGINS
    assert "capacity" not in plugins  # conflicts with proportion


def test_values_enable_podgroup_mutation_on_top_of_the_defaults() -> None:
    custom = volcano_values(VolcanoAddon())["custom"]
    admissions = custom["enabled_admissions"].split(",")
    assert admissions[: len(DEFAULT_ADMISSIONS)] == list(DEFAULT_ADMISSIONS)
    assert admissions[-1] == "/podgroups/mutate"
    assert yaml.safe_load(custom["scheduler_config_override"]) == yaml.safe_load(scheduler_config())


def test_values_replicas_and_leader_election() -> None:
    single = volcano_values(VolcanoAddon())["custom"]
    assert (single["scheduler_replicas"], single["leader_elect_enable"]) == (1, False)
    ha = volcano_values(VolcanoAddon(scheduler_replicas=2, controller_replicas=3))["custom"]
    assert (ha["scheduler_replicas"], ha["controller_replicas"]) == (2, 3)
    assert ha["leader_elect_enable"] is True


def test_release_is_pinned_and_retained(platform_run) -> None:
    run = platform_run("eks")
    release = run.one(RELEASE, "volcano-release")
    assert release.inputs["chart"] == factories.verified_archive(versions.VOLCANO)
    assert release.inputs["version"] == versions.VOLCANO.version
    assert "repositoryOpts" not in release.inputs
    assert release.inputs["name"] == "volcano"
    assert release.inputs["namespace"] == "volcano-system"
    assert release.options.retain_on_delete is True
    assert release.parent == ("kubeai:addons:Volcano", "volcano")
    ns = run.one(NAMESPACE, "volcano-namespace")
    assert ns.inputs["metadata"]["name"] == "volcano-system"


def test_release_uses_a_configured_mirror(platform_run) -> None:
    run = platform_run(
        "eks", addons={"volcano": {"chart": {"repository": "https://mirror.example/volcano"}}}
    )
    release = run.one(RELEASE, "volcano-release")
    assert release.inputs["repositoryOpts"]["repo"] == "https://mirror.example/volcano"
    assert release.inputs["version"] == versions.VOLCANO.version


def test_args_refuse_a_disabled_addon() -> None:
    with pytest.raises(ValueError, match="disabled"):
        VolcanoArgs(config=VolcanoAddon(enabled=False)).validate()
    with pytest.raises(ValueError, match="namespace"):
        VolcanoArgs(config=VolcanoAddon(), namespace="Volcano").validate()
