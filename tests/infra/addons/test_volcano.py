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
from infra.config import ImageSettings, VolcanoAddon
from tests.infra import factories
from tests.infra.conftest import NAMESPACE, RELEASE

REQUIRED_PLUGINS = {"gang", "priority", "conformance", "drf", "predicates", "nodeorder", "binpack"}
#: Plugins whose ``JobEnqueueableFn`` vetoes a PodGroup leaving Pending (Volcano v1.15.1,
#: ``grep -l AddJobEnqueueableFn pkg/scheduler/plugins``); irrelevant without ``enqueue``.
ENQUEUE_VOTERS = {"capacity", "extender", "overcommit", "proportion", "resourcequota", "sla"}
#: Action names Volcano v1.15.1 registers (``pkg/scheduler/actions/factory.go``); the scheduler
#: refuses a configuration naming another.
KNOWN_ACTIONS = {
    "reclaim",
    "allocate",
    "backfill",
    "preempt",
    "gangpreempt",
    "gangreclaim",
    "enqueue",
    "shuffle",
}
#: ``PluginOption`` yaml keys at v1.15.1 (``pkg/scheduler/conf/scheduler_conf.go``); Go's yaml
#: decoder would silently drop a misspelt one, so the test does not.
PLUGIN_OPTION_KEYS = {
    "name",
    "enableJobOrder",
    "enableHierarchy",
    "enableJobReady",
    "enableJobPipelined",
    "enableTaskOrder",
    "enablePreemptable",
    "enableReclaimable",
    "enablePreemptive",
    "enableQueueOrder",
    "enablePredicate",
    "enableBestNode",
    "enableNodeOrder",
    "enableTargetJob",
    "enableReservedNodes",
    "enableJobEnqueued",
    "enabledVictim",
    "enableJobStarving",
    "enabledOverused",
    "enabledAllocatable",
    "arguments",
}


def _plugins(policy: dict) -> list[dict]:
    return [plugin for tier in policy["tiers"] for plugin in tier["plugins"]]


@pytest.mark.parametrize(
    ("queue_policy", "other"), [("proportion", "capacity"), ("capacity", "proportion")]
)
def test_scheduler_config_runs_one_queue_plugin(queue_policy: str, other: str) -> None:
    policy = yaml.safe_load(scheduler_config(queue_policy))
    names = [p["name"] for p in _plugins(policy)]
    assert set(names) == REQUIRED_PLUGINS | {queue_policy}
    assert len(names) == len(set(names))
    assert other not in names  # the two conflict: never both
    assert names.index(queue_policy) == names.index("predicates") + 1  # tier 2, where it was
    for plugin in _plugins(policy):
        assert set(plugin) <= PLUGIN_OPTION_KEYS, plugin


def test_scheduler_config_has_no_enqueue_action_so_gangs_from_zero_get_pods() -> None:
    """With GPU pools at 0 nodes, enqueue's queue plugins reject every GPU gang (realCapability
    holds no nvidia.com/gpu), the operators never create its pods and nothing scales up; without
    the action, allocate moves Pending PodGroups to Inqueue itself (module docstring)."""
    for queue_policy in ("proportion", "capacity"):
        policy = yaml.safe_load(scheduler_config(queue_policy))
        actions = [a.strip() for a in policy["actions"].split(",")]
        assert actions == ["allocate", "preempt", "reclaim", "backfill"]
        assert set(actions) <= KNOWN_ACTIONS
        assert "enqueue" not in actions
        assert "overcommit" not in {p["name"] for p in _plugins(policy)}
        voters = ENQUEUE_VOTERS & {p["name"] for p in _plugins(policy)}
        assert voters == {queue_policy}  # the plugin that would have kept the gang Pending


def test_scheduler_config_refuses_another_policy() -> None:
    with pytest.raises(ValueError, match="proportion or capacity"):
        scheduler_config("drf")  # type: ignore[arg-type]


def test_values_enable_podgroup_mutation_on_top_of_the_defaults() -> None:
    custom = volcano_values(VolcanoAddon())["custom"]
    admissions = custom["enabled_admissions"].split(",")
    assert admissions[: len(DEFAULT_ADMISSIONS)] == list(DEFAULT_ADMISSIONS)
    assert admissions[-1] == "/podgroups/mutate"
    assert yaml.safe_load(custom["scheduler_config_override"]) == yaml.safe_load(scheduler_config())
    capacity = volcano_values(VolcanoAddon(queue_policy="capacity"))["custom"]
    assert yaml.safe_load(capacity["scheduler_config_override"]) == yaml.safe_load(
        scheduler_config("capacity")
    )


@pytest.mark.parametrize("queue_policy", ["proportion", "capacity"])
def test_release_renders_the_configured_queue_plugin(platform_run, queue_policy: str) -> None:
    run = platform_run("eks", addons={"volcano": {"queuePolicy": queue_policy}})
    values = run.one(RELEASE, "volcano-release").inputs["values"]
    policy = yaml.safe_load(values["custom"]["scheduler_config_override"])
    names = {p["name"] for p in _plugins(policy)}
    assert queue_policy in names and not {"proportion", "capacity"} - {queue_policy} & names
    assert "enqueue" not in policy["actions"]


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


def test_images_from_the_mirror_and_the_first_pull_secret() -> None:
    assert "basic" not in volcano_values(VolcanoAddon())
    images = ImageSettings(registry="mirror.test/kubeai", pull_secrets=["a", "b"])
    basic = volcano_values(VolcanoAddon(), images)["basic"]
    assert basic == {"image_registry": "mirror.test/kubeai/docker.io", "image_pull_secret": "a"}
