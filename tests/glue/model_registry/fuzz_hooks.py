"""Schemathesis hooks of the registry's conformance run (``test_openapi_fuzz``), loaded by the
``schemathesis`` process through ``SCHEMATHESIS_HOOKS``.

One hook, ``filter_failure``, and only for the ``positive_data_acceptance`` check (ST202): a
schema-valid request may still be refused with 422 by a rule that depends on stored state (the
artifact in the store, a recorded dataset, an existing version) or compares values within one
request, which JSON Schema cannot state (the document names the latter with the
``x-kubeai-rules`` keyword). ``UNSTATABLE`` lists each such rule per operation as the problem's
title, the offending ``errors[].field`` and its message; a 422 is accepted only when every error
it reports is one of them. Any other refusal of valid data fails the run.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import schemathesis

#: Title of a domain rule's 422 (``errors.Invalid``) and of request validation's 422.
STATE = "Unprocessable content"
REQUEST = "Invalid request"


class Rule(NamedTuple):
    """A rule the schema cannot state: the 422's title, field (regex) and message (regex)."""

    title: str
    field: str
    message: str
    why: str


_ASSIGNMENT_RULES = [
    Rule(
        STATE,
        r"body\.assignments\[\d+\]\.model",
        r"does not exist",
        "an assignment names a registered model",
    ),
    Rule(
        STATE,
        r"body\.assignments\[\d+\]\.(version|canary_version)",
        r"has no version",
        "an assignment names a stored version",
    ),
    Rule(
        REQUEST,
        r"body\.assignments",
        r"is assigned twice",
        "each model at most once (x-kubeai-rules)",
    ),
    Rule(
        REQUEST,
        r"body\.assignments\[\d+\]",
        r"'canary_version' must differ from 'version'",
        "canary_version differs from version (x-kubeai-rules)",
    ),
    Rule(
        STATE,
        r"body\.assignments\[\d+\]\.canary_version",
        r"is not newer than the primary",
        "a canary is newer than the version its alias resolves to",
    ),
]

#: A create body's ``team`` equals the path's (x-kubeai-rules: a body value compared with a path).
_TEAM_RULE = Rule(STATE, r"body\.team", r"but the path's team is", "body.team equals the path's")

#: operation -> the rules whose 422 a schema-valid request may get.
UNSTATABLE: dict[str, list[Rule]] = {
    "POST /api/v1/teams/{team}/models": [_TEAM_RULE],
    "POST /api/v1/teams/{team}/models/{model}/versions": [
        Rule(
            STATE,
            r"body\.artifact_uri",
            r".",
            "the artifact is in this deployment's store (allowed schemes, bucket rules, local "
            "root) with a config.pbtxt naming the model",
        ),
        Rule(STATE, r"body\.manifest\.files(\..+)?", r".", "the artifact holds the manifest"),
        Rule(STATE, r"body\.signature", r".", "the signature matches the config.pbtxt"),
        Rule(STATE, r"body\.dataset", r"is not recorded", "the dataset is recorded"),
    ],
    "POST /api/v1/teams/{team}/datasets": [
        Rule(STATE, r"body\.uri", r".", "the URI is one this deployment's store serves"),
        _TEAM_RULE,
    ],
    "PUT /api/v1/teams/{team}/datasets/{dataset}": [
        Rule(
            STATE,
            r"body\.source\.name",
            r"but the path's dataset is",
            "source.name equals the path's dataset (x-kubeai-rules)",
        ),
        Rule(
            REQUEST,
            r"body\.cache\.cached_bytes",
            r"exceeds capacity_bytes",
            "cached_bytes is at most capacity_bytes (x-kubeai-rules)",
        ),
    ],
    "PUT /api/v1/teams/{team}/models/{model}/aliases/{alias}": [
        Rule(STATE, r"body\.version", r"has no version", "the alias moves to a stored version"),
    ],
    "POST /api/v1/teams/{team}/services": [*_ASSIGNMENT_RULES, _TEAM_RULE],
    "PUT /api/v1/teams/{team}/services/{service}/assignments": _ASSIGNMENT_RULES,
    "PUT /api/v1/teams/{team}/services/{service}/pods/{pod}/status": [
        Rule(
            REQUEST,
            r"body\.models",
            r"is reported twice",
            "each model version at most once (x-kubeai-rules)",
        ),
        Rule(
            REQUEST,
            r"body\.traffic",
            r"is reported twice",
            "traffic of each model version at most once (x-kubeai-rules)",
        ),
        Rule(
            STATE,
            r"body\.traffic\[\d+\]",
            r"the report's models do not observe that version",
            "traffic only of a version the report's models list (x-kubeai-rules)",
        ),
        Rule(
            STATE,
            r"body\.traffic\[\d+\]",
            r"has no assignment of model|has no version",
            "traffic only of a model assigned to the service, of a registered version",
        ),
    ],
    "PUT /api/v1/teams/{team}/services/{service}/canaries/{model}": [
        Rule(STATE, r"body\.version", r"has no version", "the canary is a stored version"),
        Rule(
            STATE,
            r"body\.version",
            r"is not newer than the primary",
            "a canary is newer than the resolved primary",
        ),
    ],
}


def _unstatable(rules: list[Rule], problem: dict[str, Any]) -> bool:
    errors = problem.get("errors") or []
    return bool(errors) and all(
        any(
            problem.get("title") == rule.title
            and re.fullmatch(rule.field, str(error.get("field")))
            and re.search(rule.message, str(error.get("message")))
            for rule in rules
        )
        for error in errors
    )


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep ``failure`` unless it is ST202 on a 422 whose every error is one of the operation's
    ``UNSTATABLE`` rules."""
    if failure.code != "ST202" or response.status_code != 422:
        return True
    rules = UNSTATABLE.get(f"{case.operation.method.upper()} {case.operation.path}", [])
    try:
        problem = json.loads(response.content)
    except ValueError:
        return True
    return not (isinstance(problem, dict) and _unstatable(rules, problem))
