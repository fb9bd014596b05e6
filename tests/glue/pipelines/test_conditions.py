"""The resource-step conditions, read as Argo reads them (``glue.pipelines.conditions``), against
PyTorchJob objects whose status is the pinned training operator's (v1.9.4): each object is first
validated against the openAPIV3Schema of the pinned CRD (jsonschema, ``tests.infra.crd_schema``),
then the training step's conditions must conclude success, failure or neither.

The statuses follow how the operator writes them (``setCondition``/``filterOutCondition``: one
entry per type, a new or changed type appended last, ``Running`` set False when the job
finishes or is suspended, ``Running`` and ``Restarting`` replacing each other, nothing changed
once ``Failed``; ``completionTime`` set with ``Succeeded`` or ``Failed``).
"""

from __future__ import annotations

from typing import Any

import pytest

from glue.pipelines import conditions
from glue.pipelines.conditions import (
    DATALOAD_FAILURE,
    DATALOAD_SUCCESS,
    TRAINING_FAILURE,
    TRAINING_SUCCESS,
    ConditionError,
    evaluate,
    gjson_get,
    parse,
)
from tests.infra.crd_schema import errors

T0 = "2026-11-30T10:00:00Z"
T1 = "2026-11-30T10:05:00Z"


def condition(kind: str, status: str = "True") -> dict[str, Any]:
    """A job condition as the operator writes it."""
    return {
        "type": kind,
        "status": status,
        "reason": f"PyTorchJob{kind}",
        "message": f"PyTorchJob default/mnist is {kind.lower()}.",
        "lastUpdateTime": T0,
        "lastTransitionTime": T0,
    }


def pytorch_job(
    conds: list[tuple[str, str]] | None,
    master: dict[str, int] | None = None,
    *,
    completed: bool = False,
) -> dict[str, Any]:
    """A one-Master PyTorchJob with the given ``(type, status)`` conditions (None: no status
    yet), Master replica counts and a ``completionTime`` when ``completed``."""
    pod = {"containers": [{"name": "pytorch", "image": "registry.invalid/train:1"}]}
    job: dict[str, Any] = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "mnist", "namespace": "search", "uid": "0d7c4c36-8f0e"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": {"spec": pod}}
            }
        },
    }
    if conds is None:
        return job
    status: dict[str, Any] = {
        "conditions": [condition(kind, state) for kind, state in conds],
        "replicaStatuses": {"Master": {"active": 0, **(master or {})}},
        "startTime": T0,
        "lastReconcileTime": T1,
    }
    if completed:
        status["completionTime"] = T1
    job["status"] = status
    return job


#: (case, job, what Argo concludes with the training step's conditions)
TABLE: list[tuple[str, dict[str, Any], str]] = [
    ("no status yet", pytorch_job(None), "pending"),
    ("Created", pytorch_job([("Created", "True")]), "pending"),
    (
        "Running",
        pytorch_job([("Created", "True"), ("Running", "True")], {"active": 1}),
        "pending",
    ),
    (
        "Restarting (a replica failed, will be recreated)",
        pytorch_job([("Created", "True"), ("Restarting", "True")], {"failed": 1}),
        "pending",
    ),
    (
        "Running again after a restart",
        pytorch_job([("Created", "True"), ("Running", "True")], {"active": 1, "failed": 1}),
        "pending",
    ),
    (
        "Suspended",
        pytorch_job([("Created", "True"), ("Running", "False"), ("Suspended", "True")]),
        "pending",
    ),
    (
        "resumed (Suspended False, Running)",
        pytorch_job(
            [("Created", "True"), ("Suspended", "False"), ("Running", "True")], {"active": 1}
        ),
        "pending",
    ),
    (
        "Succeeded",
        pytorch_job(
            [("Created", "True"), ("Running", "False"), ("Succeeded", "True")],
            {"succeeded": 1},
            completed=True,
        ),
        "succeeded",
    ),
    (
        "Succeeded without a Running condition seen",
        pytorch_job([("Created", "True"), ("Succeeded", "True")], {"succeeded": 1}, completed=True),
        "succeeded",
    ),
    (
        "Succeeded after a suspension (fourth slot)",
        pytorch_job(
            [
                ("Created", "True"),
                ("Suspended", "False"),
                ("Running", "False"),
                ("Succeeded", "True"),
            ],
            {"succeeded": 1},
            completed=True,
        ),
        "succeeded",
    ),
    (
        "Succeeded after restarts (replica failures counted)",
        pytorch_job(
            [("Created", "True"), ("Running", "False"), ("Succeeded", "True")],
            {"succeeded": 1, "failed": 2},
            completed=True,
        ),
        "succeeded",
    ),
    (
        "Failed",
        pytorch_job(
            [("Created", "True"), ("Running", "False"), ("Failed", "True")],
            {"failed": 1},
            completed=True,
        ),
        "failed",
    ),
    (
        "Failed at the backoff limit after Restarting",
        pytorch_job(
            [("Created", "True"), ("Restarting", "True"), ("Failed", "True")],
            {"failed": 1},
            completed=True,
        ),
        "failed",
    ),
    (
        "Failed before any completionTime was written",
        pytorch_job([("Created", "True"), ("Failed", "True")], {"failed": 1}),
        "failed",
    ),
    (
        "Failed past the active deadline while suspended",
        pytorch_job(
            [("Created", "True"), ("Running", "False"), ("Suspended", "True"), ("Failed", "True")],
            completed=True,
        ),
        "failed",
    ),
]


@pytest.mark.parametrize(("case", "job", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_training_conditions_on_operator_statuses(
    case: str, job: dict[str, Any], expected: str
) -> None:
    assert errors(job) == [], f"{case}: not a status the pinned PyTorchJob CRD admits"
    outcome = evaluate(job, success=TRAINING_SUCCESS, failure=TRAINING_FAILURE)
    assert outcome == expected, case


def test_the_table_covers_every_condition_type_and_outcome() -> None:
    seen = {c["type"] for _, job, _ in TABLE for c in job.get("status", {}).get("conditions", [])}
    assert seen == set(conditions.JOB_CONDITION_TYPES)
    assert {outcome for _, _, outcome in TABLE} == {"pending", "succeeded", "failed"}


def test_the_crd_check_is_not_vacuous() -> None:
    job = pytorch_job([("Created", "True")])
    del job["status"]["conditions"][0]["status"]
    job["status"]["replicaStatuses"]["Master"]["active"] = "one"
    problems = errors(job)
    assert any("'status' is a required property" in p for p in problems)
    assert any("active" in p for p in problems)


def test_a_replica_count_would_fail_a_restarting_job() -> None:
    """The condition this module does not use: the failed-replica count is > 0 while the
    operator restarts a replica, so it would fail a job that goes on to succeed."""
    naive = "status.replicaStatuses.Master.failed>0"
    restarting = pytorch_job([("Created", "True"), ("Restarting", "True")], {"failed": 1})
    assert evaluate(restarting, success=TRAINING_SUCCESS, failure=naive) == "failed"
    assert evaluate(restarting, success=TRAINING_SUCCESS, failure=TRAINING_FAILURE) == "pending"


@pytest.mark.parametrize(
    "query",
    [
        'status.conditions.#(type=="Succeeded").status==True',
        "status.conditions.#.type in (Succeeded)",
        "status.conditions.@reverse.0.type==Succeeded",
    ],
)
def test_gjson_queries_are_refused_as_argo_refuses_them(query: str) -> None:
    with pytest.raises(ConditionError):
        parse(query)


def test_the_pipeline_conditions_parse() -> None:
    for text in (TRAINING_SUCCESS, TRAINING_FAILURE, DATALOAD_SUCCESS, DATALOAD_FAILURE):
        assert parse(text)
    assert len(parse(TRAINING_FAILURE)) == conditions.CONDITION_SLOTS


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (None, "pending"),
        ("Pending", "pending"),
        ("Executing", "pending"),
        ("Complete", "succeeded"),
        ("Failed", "failed"),
    ],
)
def test_dataload_conditions(phase: str | None, expected: str) -> None:
    load: dict[str, Any] = {
        "apiVersion": "data.fluid.io/v1alpha1",
        "kind": "DataLoad",
        "metadata": {"name": "warm", "namespace": "search"},
        "spec": {"dataset": {"name": "corpus", "namespace": "search"}},
    }
    if phase is not None:
        load["status"] = {"phase": phase, "conditions": [], "duration": "1m"}
    assert errors(load) == []
    assert evaluate(load, success=DATALOAD_SUCCESS, failure=DATALOAD_FAILURE) == expected


# ---------------------------------------------------------------------------------------------
# the evaluator's own semantics (k8s.io/apimachinery labels + gjson, Argo's matchConditions)

DOC = {
    "status": {
        "phase": "Running",
        "count": 3,
        "ratio": 1.5,
        "ready": True,
        "gone": None,
        "items": [{"name": "a"}, {"name": "b"}],
    }
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("status.phase=Running", True),
        ("status.phase==Running", True),
        ("status.phase!=Running", False),
        ("status.missing!=Running", True),  # absent keys satisfy != and notin
        ("status.missing notin (a,b)", True),
        ("status.phase in (Pending,Running)", True),
        ("status.phase notin (Pending,Running)", False),
        ("status.missing in (a)", False),
        ("status.phase", True),
        ("!status.phase", False),
        ("!status.missing", True),
        ("status.gone", True),  # JSON null exists for gjson
        ("status.count>2", True),
        ("status.count<3", False),
        ("status.phase>1", False),  # not an integer: no match
        ("status.ratio==1.5", True),
        ("status.ready==true", True),
        ("status.items.1.name==b", True),
        ("status.items.2.name", False),
        ("status.items.name", False),
        ("status.phase=Running,status.count>2", True),
        ("status.phase=Running,status.count>3", False),
    ],
)
def test_selector_semantics(selector: str, matches: bool) -> None:
    assert evaluate(DOC, success=selector) == ("succeeded" if matches else "pending")


@pytest.mark.parametrize(
    "selector",
    [
        "status.phase==Running Now",
        "status.phase=='Running'",
        "status.count>two",
        "status.count>-1",
        "Status/phase=x",
        "x" * 64,
        "status.phase in Running",
        "!status.phase=Running",
        "=Running",
    ],
)
def test_parse_refusals(selector: str) -> None:
    with pytest.raises(ConditionError):
        parse(selector)


def test_an_empty_value_is_a_value() -> None:
    assert parse("status.phase==") == [conditions.Requirement("status.phase", "==", ("",))]
    assert parse("a in (x,)")[0].values == ("x", "")


def test_failure_is_any_requirement_success_is_all() -> None:
    failure = "status.phase==Failed,status.count>2"
    assert evaluate(DOC, success="status.phase==Running", failure=failure) == "failed"
    assert evaluate(DOC, success="status.phase==Running,status.count>5") == "pending"


def test_empty_conditions() -> None:
    assert evaluate(DOC) == "succeeded"
    # Only a failure condition: nothing to wait for once it does not match.
    assert evaluate(DOC, failure="status.phase==Failed") == "succeeded"


def test_gjson_strings() -> None:
    assert gjson_get(DOC, "status.items.0") == (True, '{"name":"a"}')
    assert gjson_get(DOC, "status.gone") == (True, "")
    assert gjson_get({"n": 1e21}, "n") == (True, "1000000000000000000000")
    assert gjson_get({"n": 0.25}, "n") == (True, "0.25")
