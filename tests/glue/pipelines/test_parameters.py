"""glue/pipelines/parameters.py: each template parameter's text parsed, or refused naming it."""

from __future__ import annotations

import pytest

from glue.model_registry.schemas import TRAFFIC_RETENTION_S
from glue.pipelines.parameters import MAX_WINDOW_S, TYPES, ParameterError, check_parameters
from glue.pipelines.templates import PARAMETERS


def test_every_template_parameter_has_a_type_and_its_default_passes() -> None:
    assert set(TYPES) == set(PARAMETERS)
    defaults = {n: d for n, (d, _) in PARAMETERS.items() if d is not None}
    parsed = check_parameters(defaults)
    assert parsed["max-p99-ratio"] is None and parsed["dataset"] is None
    assert parsed["canary-share"] == 0.2 and parsed["min-requests"] == 20


def test_the_window_bound_is_the_registrys_traffic_retention() -> None:
    assert MAX_WINDOW_S == TRAFFIC_RETENTION_S == 3600
    assert check_parameters({"verify-window": "3600"})["verify-window"] == 3600


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("model", "Digits_V2", "should match pattern"),
        ("model", "a.b", "should match pattern"),
        ("model", "", "at least 1 character"),
        ("service", "", "at least 1 character"),
        ("canary-share", "7", "less than 1"),
        ("canary-share", "0", "greater than 0"),
        ("canary-share", "NaN", "finite number"),
        ("version-timeout", "-5", "greater than or equal to 0"),
        ("max-error-ratio", "NaN", "finite number"),
        ("max-p99-latency-ms", "nan", "finite number"),
        ("max-p99-ratio", "inf", "finite number"),
        ("verify-window", "3601", "less than or equal to 3600"),
        ("verify-window", "0", "greater than or equal to 1"),
        ("min-requests", "2.5", "valid integer"),
        ("training-job", "", "at least 1 character"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(name: str, text: str, words: str) -> None:
    with pytest.raises(ParameterError) as caught:
        check_parameters({"model": "digits", name: text})
    assert list(caught.value.problems) == [name]
    assert caught.value.problems[name].startswith(f"{text!r}: ") and words in str(caught.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ParameterError) as caught:
        check_parameters({"canary-share": "7", "max-error-ratio": "NaN"})
    assert set(caught.value.problems) == {"canary-share", "max-error-ratio"}
