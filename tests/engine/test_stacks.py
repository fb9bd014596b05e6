"""``pulumi up`` for real: the Pulumi engine (``infra.engine``) drives the ``local`` platform stack
and two team stacks against the control plane (etcd, kube-apiserver with real admission,
controller manager, scheduler, KWOK nodes standing in for the node pools).

Upstream charts and manifests come from the verified mirror (``infra.upstream``); the stand-ins
(``infra.controlplane.standins``) bind claims and remove the upstream admission webhook
configurations whose servers KWOK cannot run. The tests run in file order and build on each
other, as a platform team would work: platform up, no-change up, team stacks, a change, a failed
update and its fix, the refusals, then destroy of a team stack and of the platform.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pulumi import automation as auto

from infra.controlplane.harness import ControlPlane
from infra.engine.driver import Engine, StackError, StackInputError
from tests.engine.conftest import make_engine
from tests.support.engine import unavailable_workloads

PLATFORM = "local"
TEAMS = ("team-vision-local", "team-search-local")
VOLCANO_CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/queues.scheduling.volcano.sh"


class Steps:
    """What each engine step did: resource steps (op, type, name) from the engine's events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def __call__(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None and pre.metadata is not None:
            metadata = pre.metadata
            self.events.append(
                (str(metadata.op.value), metadata.type, metadata.urn.split("::")[-1])
            )

    def changed(self) -> list[tuple[str, str, str]]:
        """Steps other than ``same`` (and reads), sorted."""
        return sorted(e for e in self.events if e[0] not in ("same", "read"))


def _changes(summary: dict[str, int]) -> dict[str, int]:
    """Operations that change something: not ``same``, not ``read`` (the cluster identity is
    read on every run, ``infra.cluster_identity``)."""
    return {op: n for op, n in summary.items() if n and op not in ("same", "read")}


def _destroyed(result: auto.DestroyResult) -> bool:
    """A destroy deleted resources and did nothing else (the cluster identity read is
    ``discard``ed from the state: the Namespace itself is never touched)."""
    changes = _changes(result.summary.resource_changes or {})
    return "delete" in changes and set(changes) <= {"delete", "discard"}


def _edit(stacks_dir: Path, stack: str, **config: Any) -> None:
    """Set ``kubeai:<key>`` values (``None`` deletes) in the stack file copy."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    content = yaml.safe_load(path.read_text())
    for key, value in config.items():
        if value is None:
            content["config"].pop(f"kubeai:{key}", None)
        else:
            content["config"][f"kubeai:{key}"] = value
    path.write_text(yaml.safe_dump(content, sort_keys=False))


def _get(api: httpx.Client, path: str) -> dict[str, Any] | None:
    response = api.get(path)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def _gone(api: httpx.Client, path: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.get(path).status_code == 404:
            return True
        time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def timings() -> Iterator[dict[str, float]]:
    """Seconds per engine step, printed at the end of the module."""
    seen: dict[str, float] = {}
    yield seen
    print("\nengine steps (s): " + json.dumps({k: round(v, 1) for k, v in seen.items()}))


def _timed(timings: dict[str, float], name: str, call: Any) -> Any:
    started = time.monotonic()
    try:
        return call()
    finally:
        timings[name] = time.monotonic() - started


def test_platform_up_creates_it_and_every_workload_becomes_available(
    engine: Engine, api: httpx.Client, timings: dict[str, float]
) -> None:
    result = _timed(timings, "platform up", lambda: engine.up(PLATFORM))
    assert result.summary.result == "succeeded"
    assert set(_changes(result.summary.resource_changes or {})) == {"create"}
    assert unavailable_workloads(api) == {}
    for namespace in ("volcano-system", "fluid-system", "argo", "kubeflow", "kubeai-system"):
        assert _get(api, f"/api/v1/namespaces/{namespace}") is not None, namespace
    outputs = engine.outputs(PLATFORM)
    kube_system = _get(api, "/api/v1/namespaces/kube-system")
    assert kube_system is not None
    assert outputs["clusterUid"] == kube_system["metadata"]["uid"]
    assert outputs["platform"]["volcanoEnabled"] is True


def test_second_up_reports_no_changes(engine: Engine, timings: dict[str, float]) -> None:
    preview = _timed(timings, "platform preview (no change)", lambda: engine.preview(PLATFORM))
    assert _changes(preview.change_summary) == {}
    result = _timed(timings, "platform up (no change)", lambda: engine.up(PLATFORM))
    assert _changes(result.summary.resource_changes or {}) == {}


def test_team_stacks_come_up_on_their_platform(
    engine: Engine, api: httpx.Client, timings: dict[str, float]
) -> None:
    for team in TEAMS:
        result = _timed(timings, f"{team} up", lambda team=team: engine.up(team))
        assert set(_changes(result.summary.resource_changes or {})) == {"create"}, team
    assert unavailable_workloads(api) == {}
    queue = _get(api, "/apis/scheduling.volcano.sh/v1beta1/queues/vision")
    assert queue is not None and queue["spec"]["weight"] == 2
    quota = _get(api, "/api/v1/namespaces/vision/resourcequotas/kubeai-team")
    assert quota is not None and quota["spec"]["hard"]["requests.cpu"] == "8"
    dataset = _get(api, "/apis/data.fluid.io/v1alpha1/namespaces/search/datasets/click-logs")
    assert dataset is not None
    for team in TEAMS:
        preview = _timed(
            timings, f"{team} preview (no change)", lambda team=team: engine.preview(team)
        )
        assert _changes(preview.change_summary) == {}, team


def test_a_team_change_is_previewed_then_applied_and_touches_only_what_changed(
    engine: Engine, api: httpx.Client, stacks_dir: Path, timings: dict[str, float]
) -> None:
    _edit(
        stacks_dir,
        "team-vision-local",
        quota={"cpu": "9", "memory": "16Gi", "pods": 50, "storage": "20Gi"},
        inferenceServices=[
            {"name": "digits", "model": "digits", "replicas": 1, "cpu": "1", "memory": "2Gi"},
            {"name": "ocr", "model": "ocr", "replicas": 1, "cpu": "1", "memory": "2Gi"},
        ],
    )
    previewed = Steps()
    engine.preview("team-vision-local", on_event=previewed)
    applied = Steps()
    result = _timed(
        timings, "team change up", lambda: engine.up("team-vision-local", on_event=applied)
    )
    assert result.summary.result == "succeeded"
    assert previewed.changed() == applied.changed()
    updates = [e for e in applied.changed() if e[0] == "update"]
    assert [(t, n) for _, t, n in updates] == [("kubernetes:core/v1:ResourceQuota", "team-quota")]
    creates = {n for op, _, n in applied.changed() if op == "create"}
    assert creates and all("ocr" in name for name in creates), creates
    assert not [e for e in applied.changed() if e[0] not in ("update", "create")]
    quota = _get(api, "/api/v1/namespaces/vision/resourcequotas/kubeai-team")
    assert quota is not None and quota["spec"]["hard"]["requests.cpu"] == "9"
    assert unavailable_workloads(api) == {}


CPU_CEILING_POLICY = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "team-cpu-ceiling"},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["resourcequotas"],
                }
            ]
        },
        "validations": [
            {
                "expression": "!has(object.spec.hard) || !('requests.cpu' in object.spec.hard)"
                " || quantity(object.spec.hard['requests.cpu']).compareTo(quantity('10')) <= 0",
                "message": "a team quota may ask for at most 10 CPUs on this cluster",
            }
        ],
    },
}
CPU_CEILING_BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": "team-cpu-ceiling"},
    "spec": {"policyName": "team-cpu-ceiling", "validationActions": ["Deny"]},
}
VAP = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
VAP_BINDINGS = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"


def _wait_refused(api: httpx.Client, namespace: str, cpu: str, timeout: float = 30.0) -> None:
    """Wait until the policy refuses a quota of ``cpu`` (a dry run: nothing is stored); the
    apiserver applies a new policy once its informers have synced it."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "probe"},
        "spec": {"hard": {"requests.cpu": cpu}},
    }
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.post(f"/api/v1/namespaces/{namespace}/resourcequotas?dryRun=All", json=quota)
        if response.status_code in (403, 422):
            return
        time.sleep(0.5)
    raise AssertionError(f"the policy never refused a quota of {cpu} CPUs")


def test_a_refused_update_fails_cleanly_and_the_fixed_config_converges(
    engine: Engine, api: httpx.Client, stacks_dir: Path, timings: dict[str, float]
) -> None:
    """The cluster's own admission (a ValidatingAdmissionPolicy) refuses a quota our config
    checks accept: the update fails naming the refusal, the quota keeps its value, and the next
    ``up`` with a fixed config converges to no changes."""
    assert api.post(VAP, json=CPU_CEILING_POLICY).status_code == 201
    assert api.post(VAP_BINDINGS, json=CPU_CEILING_BINDING).status_code == 201
    try:
        _edit(
            stacks_dir,
            "team-vision-local",
            quota={"cpu": "12", "memory": "16Gi", "pods": 50, "storage": "20Gi"},
        )
        _wait_refused(api, "vision", "12")
        with pytest.raises(StackError) as caught:
            engine.up("team-vision-local")
        message = str(caught.value)
        assert "at most 10 CPUs" in message
        assert "Traceback" not in message
        quota = _get(api, "/api/v1/namespaces/vision/resourcequotas/kubeai-team")
        assert quota is not None and quota["spec"]["hard"]["requests.cpu"] == "9"
        _edit(
            stacks_dir,
            "team-vision-local",
            quota={"cpu": "10", "memory": "16Gi", "pods": 50, "storage": "20Gi"},
        )
        result = _timed(timings, "team fixed up", lambda: engine.up("team-vision-local"))
        assert result.summary.result == "succeeded"
        assert _changes(engine.preview("team-vision-local").change_summary) == {}
        quota = _get(api, "/api/v1/namespaces/vision/resourcequotas/kubeai-team")
        assert quota is not None and quota["spec"]["hard"]["requests.cpu"] == "10"
    finally:
        api.delete(f"{VAP_BINDINGS}/team-cpu-ceiling")
        api.delete(f"{VAP}/team-cpu-ceiling")


def test_a_team_stack_refuses_a_cluster_other_than_its_platforms(
    plane: ControlPlane,
    control_plane_binaries: dict[str, Path],
    engine: Engine,
    engine_binaries: dict[str, Path],
    stacks_dir: Path,
    tmp_path: Path,
) -> None:
    other = ControlPlane(tmp_path / "other-plane", control_plane_binaries)
    with other:
        elsewhere = make_engine(other, tmp_path / "other", stacks_dir, engine_binaries)
        elsewhere = Engine(  # same backend (the platform stack is there), the other cluster
            stacks_dir=stacks_dir,
            state_dir=engine.state_dir,
            kubeconfig=elsewhere.kubeconfig,
            environ=engine.environ,
        )
        with pytest.raises(StackError) as caught:
            elsewhere.up("team-search-local")
        message = str(caught.value)
        assert "another cluster" in message and "platform stack 'local'" in message
        with other.client() as other_api:
            assert _get(other_api, "/api/v1/namespaces/search") is None  # nothing created


def test_a_team_stack_refuses_a_platform_stack_that_does_not_exist(
    plane: ControlPlane, stacks_dir: Path, engine_binaries: dict[str, Path], tmp_path: Path
) -> None:
    fresh = make_engine(plane, tmp_path, stacks_dir, engine_binaries)
    with pytest.raises(StackInputError) as caught:
        fresh.up("team-vision-local")
    assert "platform stack 'local'" in str(caught.value) and "does not exist" in str(caught.value)
    assert "kubeai stack up --stack local" in str(caught.value)


def test_a_team_stack_never_adopts_a_namespace_it_did_not_create(
    engine: Engine, api: httpx.Client, stacks_dir: Path
) -> None:
    """Server-side apply would have taken over an existing namespace (and ``destroy`` deleted
    it); the platform's admission policy refuses, and the namespace stays as it was."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy"}}
    assert api.post("/api/v1/namespaces", json=namespace).status_code == 201
    content = yaml.safe_load((stacks_dir / "Pulumi.team-vision-local.yaml").read_text())
    content["config"]["kubeai:team"] = {"name": "legacy"}
    content["config"].pop("kubeai:inferenceServices")
    (stacks_dir / "Pulumi.team-legacy-local.yaml").write_text(yaml.safe_dump(content))
    with pytest.raises(StackError) as caught:
        engine.up("team-legacy-local")
    assert "namespace legacy already exists and was not created by stack" in str(caught.value)
    engine.destroy("team-legacy-local")
    live = _get(api, "/api/v1/namespaces/legacy")
    assert live is not None and live["status"]["phase"] == "Active"
    assert not (live["metadata"].get("annotations") or {})  # untouched


def test_destroying_a_team_stack_removes_its_objects_and_leaves_the_platform(
    engine: Engine, api: httpx.Client, timings: dict[str, float]
) -> None:
    result = _timed(timings, "team destroy", lambda: engine.destroy("team-search-local"))
    assert _destroyed(result)
    assert _gone(api, "/api/v1/namespaces/search")
    assert _get(api, "/apis/scheduling.volcano.sh/v1beta1/queues/search") is None
    assert _get(api, "/apis/scheduling.volcano.sh/v1beta1/queues/vision") is not None
    assert unavailable_workloads(api) == {}  # the platform and the other team still run
    assert _changes(engine.preview(PLATFORM).change_summary) == {}


def test_destroying_the_platform_keeps_the_crds_and_every_teams_custom_resources(
    engine: Engine, api: httpx.Client, timings: dict[str, float]
) -> None:
    result = _timed(timings, "platform destroy", lambda: engine.destroy(PLATFORM))
    assert _destroyed(result)
    for namespace in ("volcano-system", "kubeai-system", "argo"):
        assert _gone(api, f"/api/v1/namespaces/{namespace}"), namespace
    assert _get(api, VOLCANO_CRD) is not None
    assert _get(api, "/apis/scheduling.volcano.sh/v1beta1/queues/vision") is not None
