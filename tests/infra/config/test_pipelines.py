"""infra/config/pipelines.py: ``kubeai:pipelines`` keys, each refusal naming its key path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.infra import factories
from tests.infra.factories import config_problems
from tests.infra.test_pipelines import RETRAINING


def _values(**entry: Any) -> dict[str, Any]:
    pipelines = copy.deepcopy(RETRAINING)
    pipelines["retraining"][0].update(entry)
    return factories.team_values(pipelines=pipelines)


def test_defaults_install_the_template_and_no_schedule() -> None:
    config = factories.team_config()
    assert config.pipelines.model_iteration and config.pipelines.retraining == []


def test_a_retraining_entry_gives_every_template_parameter() -> None:
    from glue.pipelines.templates import PARAMETERS

    config = factories.team_config(pipelines=RETRAINING)
    [entry] = config.pipelines.retraining
    assert set(entry.parameters()) == set(PARAMETERS)
    assert entry.parameters()["canary-share"] == "0.2"
    assert entry.parameters()["max-p99-ratio"] == ""  # not judged
    assert entry.parameters()["min-requests"] == "20"
    assert entry.parameters()["canary-ready-timeout"] == "600"


def test_every_parameter_a_valid_entry_gives_passes_the_templates_checks() -> None:
    from glue.pipelines.parameters import check_parameters

    config = factories.team_config(pipelines=_values(maxP99Ratio=1.5)["pipelines"])
    [entry] = config.pipelines.retraining
    parsed = check_parameters(entry.parameters())
    assert parsed["verify-window"] == 300 and parsed["max-p99-ratio"] == 1.5


def test_latency_bounds_and_min_requests_become_parameters() -> None:
    config = factories.team_config(
        pipelines=_values(maxP99Ratio=1.5, maxP99LatencyMs=None, minRequests=200)["pipelines"]
    )
    [entry] = config.pipelines.retraining
    parameters = entry.parameters()
    assert parameters["max-p99-ratio"] == "1.5"
    assert parameters["max-p99-latency-ms"] == ""  # null: not judged
    assert parameters["min-requests"] == "200"


@pytest.mark.parametrize(
    ("entry", "path", "words"),
    [
        ({"schedule": "every night"}, "schedule", "no schedule the CronWorkflow CRD admits"),
        ({"schedule": "0 3 * *"}, "schedule", "five cron fields"),
        ({"timezone": "Mars/Olympus"}, "timezone", "no IANA time zone"),
        ({"canaryShare": 1}, "canaryShare", "less than 1"),
        ({"maxErrorRatio": -0.1}, "maxErrorRatio", "greater than or equal to 0"),
        ({"name": "n" * 53}, "name", "at most 52"),
        ({"model": "Digits"}, "model", "pattern"),
        ({"verifyWindowSeconds": 1}, "verifyWindowSeconds", "greater than or equal to 10"),
        ({"maxP99Ratio": 0}, "maxP99Ratio", "greater than 0"),
        ({"maxP99LatencyMs": -1}, "maxP99LatencyMs", "greater than or equal to 0"),
        ({"minRequests": 0}, "minRequests", "greater than or equal to 1"),
        ({"sheduel": "x"}, "sheduel", ""),
        # NaN/infinite thresholds (YAML .nan/.inf) would pass every gate comparison
        ({"maxErrorRatio": float("nan")}, "maxErrorRatio", "finite number"),
        ({"maxP99LatencyMs": float("nan")}, "maxP99LatencyMs", "finite number"),
        ({"maxP99Ratio": float("inf")}, "maxP99Ratio", "finite number"),
        ({"canaryShare": float("nan")}, "canaryShare", "finite number"),
        # the registry's traffic endpoint answers windows up to 3600 s
        ({"verifyWindowSeconds": 3601}, "verifyWindowSeconds", "less than or equal to 3600"),
        ({"canaryReadyTimeoutSeconds": -5}, "canaryReadyTimeoutSeconds", "greater than or"),
        ({"model": "Digits_V2"}, "model", "pattern"),
        ({"model": "a.b"}, "model", "pattern"),
        ({"service": ""}, "service", "at least 1 character"),
    ],
)
def test_bad_retraining_keys_name_their_path(entry: dict[str, Any], path: str, words: str) -> None:
    [(where, message)] = config_problems(_values(**entry))
    assert where == f"kubeai:pipelines.retraining[0].{path}"
    assert words in message


@pytest.mark.parametrize(
    ("job", "words"),
    [
        ({**RETRAINING["retraining"][0]["job"], "kind": "Deployment"}, "apiVersion/kind"),
        ({**RETRAINING["retraining"][0]["job"], "spec": []}, "spec: must be a mapping"),
        (
            {
                **RETRAINING["retraining"][0]["job"],
                "metadata": {"name": "x", "labels": {"kubeai.dev/model": "other"}},
            },
            "differs from the pipeline's model",
        ),
    ],
)
def test_a_job_that_cannot_run_is_refused(job: dict[str, Any], words: str) -> None:
    [(where, message)] = config_problems(_values(job=job))
    assert where == "kubeai:pipelines.retraining[0]"
    assert message.startswith("job: ") and words in message


def test_unknown_service_and_dataset_are_refused() -> None:
    problems = dict(config_problems(_values(service="nope", dataset="missing")))
    assert (
        "'nope' is not one of kubeai:inferenceServices (resnet, ranker)"
        in (problems["kubeai:pipelines.retraining[0].service"])
    )
    assert "kubeai:datasets (imagenet)" in problems["kubeai:pipelines.retraining[0].dataset"]


def test_duplicate_names_and_retraining_without_the_template_are_refused() -> None:
    pipelines = copy.deepcopy(RETRAINING)
    pipelines["retraining"].append(copy.deepcopy(pipelines["retraining"][0]))
    [(where, message)] = config_problems(factories.team_values(pipelines=pipelines))
    assert where == "kubeai:pipelines" and "unique: resnet-nightly" in message
    pipelines = {**copy.deepcopy(RETRAINING), "modelIteration": False}
    [(where, message)] = config_problems(factories.team_values(pipelines=pipelines))
    assert where == "kubeai:pipelines" and "keep modelIteration" in message
