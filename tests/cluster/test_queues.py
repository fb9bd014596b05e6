"""Team Queues on a real apiserver: what config accepts, the pinned Volcano Queue CRD admits.

The Queue CRD (Volcano v1.15.1, ``scheduling.volcano.sh_queues.yaml`` from the verified upstream
files) is applied to the session's control plane; every Queue below is created with
``dryRun=All`` exactly as ``infra.tenancy.queue_manifest`` renders it:

* the edge values config accepts (``ACCEPTED_QUEUES`` of ``tests/infra/config/test_team.py``)
  under both queue plugins, and the example team stacks' queues under their platform's plugin,
  are admitted;
* the CRD-level refusals config mirrors (weight 0 or 65536, negative priority, a quantity with a
  space) are refused by the apiserver, and config refuses the same values;
* a negative quantity passes the CRD (its pattern allows a sign): only Volcano's queue webhook
  (``pkg/webhooks/admission/queues/validate``, ``ValidateResourceQuantityValue``) refuses it.

Volcano's admission webhooks cannot run here (no webhook server in the loopback-only namespace;
``tests/cluster/test_stacks.py`` shows their configurations refusing while the server is absent),
so the webhook's rules (non-negative quantities, guarantee <= deserved per resource, deserved <=
capability) are mirrored in ``infra.config.Queue`` and tested in tests/infra/config/test_team.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from infra import upstream
from infra.config import ConfigError, PlatformConfig, QueuePolicy, TeamConfig, parse_config
from infra.controlplane.harness import ControlPlane
from infra.render import load_stack
from infra.tenancy import VOLCANO_API, queue_manifest
from tests.infra.config.test_team import ACCEPTED_QUEUES
from tests.support.helm import REPO_ROOT
from tests.support.kubeapi import DRY_RUN, KubeApi, message

STACKS_DIR = REPO_ROOT / "stacks"
QUEUE_CRD = "volcano/v1.15.1/scheduling.volcano.sh_queues.yaml"
TEAM_LABEL = "kubeai.dev/team"
TEAM_STACKS = (
    "team-search-prod",
    "team-cv-prod",
    "team-risk-prod",
    "team-search-local",
    "team-vision-local",
)


@pytest.fixture(scope="module")
def kube(control_plane: ControlPlane) -> Iterator[KubeApi]:
    """The admin's API with the pinned Volcano Queue CRD established."""
    crd = yaml.safe_load((upstream.ensure("crds") / QUEUE_CRD).read_text())
    with control_plane.client(timeout=60.0) as admin:
        api = KubeApi(admin)
        api.apply_all([crd])
        api.wait_established([crd["metadata"]["name"]])
        api.forget()
        yield api


def create(kube: KubeApi, queue: dict[str, Any]) -> httpx.Response:
    """A dry-run create of the cluster-scoped ``queue``."""
    return kube.client.post(kube.path(VOLCANO_API, "Queue"), params=DRY_RUN, json=queue)


def team(queue: dict[str, Any], name: str = "edge") -> TeamConfig:
    """A team stack config with ``queue`` (quota large enough for every edge queue)."""
    config = parse_config(
        {
            "stackKind": "team",
            "platformStack": "prod-eks",
            "team": {"name": name},
            "queue": queue,
            "quota": {"gpus": 8, "cpu": "1000", "memory": "2Ti"},
        }
    )
    assert isinstance(config, TeamConfig)
    return config


@pytest.mark.parametrize("index", range(len(ACCEPTED_QUEUES)))
@pytest.mark.parametrize("policy", ["proportion", "capacity"])
def test_edge_queues_config_accepts_are_admitted(
    kube: KubeApi, index: int, policy: QueuePolicy
) -> None:
    queue = dict(ACCEPTED_QUEUES[index])
    if policy == "capacity":  # what capacity reads: deserved (= capability), never weight
        queue = {**queue, "weight": 1, "deserved": queue["capability"]}
    manifest = queue_manifest(team(queue, f"edge-{index}"), TEAM_LABEL, policy)
    response = create(kube, manifest)
    assert response.status_code == 201, message(response)
    assert response.json()["spec"]["weight"] == manifest["spec"]["weight"]


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_example_team_queues_are_admitted(kube: KubeApi, stack: str) -> None:
    config, _, _ = load_stack(stack, STACKS_DIR)
    assert isinstance(config, TeamConfig)
    platform, _, _ = load_stack(config.platform_stack, STACKS_DIR)
    assert isinstance(platform, PlatformConfig)
    policy = platform.addons.volcano.queue_policy
    # named after the stack: other modules of the session create the teams' real Queues
    renamed = config.model_copy(update={"team": config.team.model_copy(update={"name": stack})})
    manifest = queue_manifest(renamed, platform.team_label, policy)
    assert manifest["spec"] == queue_manifest(config, platform.team_label, policy)["spec"]
    response = create(kube, manifest)
    assert response.status_code == 201, message(response)


#: (config key changed, value, field the apiserver names): each refused by the CRD schema.
CRD_REFUSALS = [
    pytest.param(("weight",), 0, "spec.weight", id="weight-0"),
    pytest.param(("weight",), 65_536, "spec.weight", id="weight-65536"),
    pytest.param(("priority",), -1, "spec.priority", id="priority-negative"),
    pytest.param(("capability", "cpu"), " 4", "spec.capability.cpu", id="cpu-with-space"),
    pytest.param(("guarantee", "memory"), "1Gi ", "spec.guarantee", id="memory-trailing-space"),
]

#: Config values of the Queue the refusals start from (admitted as they are).
BASE_QUEUE = {
    "weight": 2,
    "priority": 1,
    "capability": {"cpu": "8", "memory": "16Gi", "gpus": 2},
    "guarantee": {"cpu": "1", "memory": "1Gi"},
}
#: Where each config key sits in the rendered Queue spec.
SPEC_KEYS = {"cpu": "cpu", "memory": "memory", "gpus": "nvidia.com/gpu"}


def _changed(key: tuple[str, ...], value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config values, rendered manifest) with ``key`` set to ``value`` in both; the manifest is
    rendered from the base config and edited, since config refuses the value itself."""
    values = copy.deepcopy(BASE_QUEUE)
    manifest = queue_manifest(team(copy.deepcopy(BASE_QUEUE)), TEAM_LABEL)
    spec = manifest["spec"]
    if len(key) == 1:
        values[key[0]] = spec[key[0]] = value
    else:
        values[key[0]][key[1]] = value
        target = spec[key[0]]["resource"] if key[0] == "guarantee" else spec[key[0]]
        target[SPEC_KEYS[key[1]]] = value
    return values, manifest


def test_the_base_queue_is_admitted(kube: KubeApi) -> None:
    response = create(kube, queue_manifest(team(copy.deepcopy(BASE_QUEUE)), TEAM_LABEL))
    assert response.status_code == 201, message(response)


@pytest.mark.parametrize(("key", "value", "field"), CRD_REFUSALS)
def test_what_the_crd_refuses_config_refuses(
    kube: KubeApi, key: tuple[str, ...], value: Any, field: str
) -> None:
    values, manifest = _changed(key, value)
    response = create(kube, manifest)
    assert response.status_code == 422, message(response)
    assert field in message(response), message(response)
    with pytest.raises(ConfigError) as caught:
        team(values)
    assert all(path.startswith("kubeai:queue") for path, _ in caught.value.problems)


@pytest.mark.parametrize("key", [("capability", "cpu"), ("guarantee", "memory")])
def test_negative_quantities_pass_the_crd_so_config_mirrors_the_webhook(
    kube: KubeApi, key: tuple[str, ...]
) -> None:
    """The CRD's quantity pattern admits a sign; Volcano's queue webhook (not running here)
    refuses negatives, so config must: this is why the mirror is needed."""
    values, manifest = _changed(key, "-1")
    response = create(kube, manifest)
    assert response.status_code == 201, message(response)
    with pytest.raises(ConfigError) as caught:
        team(values)
    assert [path for path, _ in caught.value.problems] == [f"kubeai:queue.{'.'.join(key)}"]
