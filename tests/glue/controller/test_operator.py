"""The operator's small pieces: backoff, the team index lookup, the in-memory diff base, and
the filter that selects finished jobs without an outcome."""

from __future__ import annotations

from typing import Any, cast

import kopf
import pytest

from glue.controller import jobs
from glue.controller.operator import MemoryDiffBase, _finished_and_unrecorded, backoff, team_of
from glue.controller.settings import ControllerSettings


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> ControllerSettings:
    monkeypatch.setenv("POD_NAMESPACE", "kubeai")
    return ControllerSettings(registry_url="http://r:8080", retry_initial=5, retry_max=60)


def test_backoff_doubles_up_to_the_cap(settings: ControllerSettings) -> None:
    assert [backoff(settings, n) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    assert backoff(settings, 10_000) == 60


def test_team_of() -> None:
    class Store(list[str]):
        pass

    index = {"cv": Store(["computer-vision"]), "empty": Store()}
    assert team_of(index, "cv") == "computer-vision"  # type: ignore[arg-type]
    assert team_of(index, "empty") is None  # type: ignore[arg-type]
    assert team_of(index, "kube-system") is None  # type: ignore[arg-type]


def test_memory_diff_base_keeps_essences_by_uid_and_patches_nothing() -> None:
    storage = MemoryDiffBase()
    body = kopf.Body({"metadata": {"uid": "u1", "annotations": {"a": "b"}}, "spec": {"x": 1}})
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    essence = storage.build(body=body)
    storage.store(body=body, patch=patch, essence=essence)
    assert storage.fetch(body=body) == essence and not patch
    storage.forget("u1")
    assert storage.fetch(body=body) is None


def body(raw: dict[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, raw))


def test_filter_takes_finished_jobs_without_an_outcome() -> None:
    kind = jobs.WATCHED[0]
    when = _finished_and_unrecorded(kind)
    done: dict[str, Any] = {"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}}
    failed: dict[str, Any] = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    assert when(body=body(done), annotations={}) is True
    assert when(body=body(failed), annotations={}) is True
    assert when(body=body(dict(failed, status={})), annotations={}) is False
    recorded = {jobs.OUTCOME_ANNOTATION: "Registered"}
    assert when(body=body(done), annotations=recorded) is False
