"""Schemathesis hooks of the registry's conformance run (``test_openapi_fuzz``), loaded by the
``schemathesis`` process through ``SCHEMATHESIS_HOOKS``.

One hook, ``filter_failure``, and only for the ``positive_data_acceptance`` check (ST202): a
schema-valid request may still be refused with 422 by a rule that depends on stored state or
compares two values of one request, which JSON Schema cannot state. Each such rule is listed in
``UNSTATABLE`` by operation and the offending ``errors[].field`` of the problem+json answer; a
422 is accepted only when every field it names is listed. Everything else the check finds fails
the run. The document names the cross-field rules with the ``x-kubeai-rules`` keyword.
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis

#: operation -> pattern of the fields whose 422 the schema cannot foresee, with the rule.
UNSTATABLE: dict[str, tuple[str, str]] = {
    # The artifact must exist in this deployment's store (allowed schemes, local root, bucket)
    # and hold exactly the manifest's files; config.pbtxt must match the signature and format;
    # the dataset must be recorded.
    "POST /api/v1/models/{model}/versions": (
        r"body\.(artifact_uri|manifest(\..*)?|signature(\..*)?|format|dataset)",
        "artifact, config.pbtxt and dataset in stored state",
    ),
    "POST /api/v1/datasets": (
        r"body\.(uri|manifest(\..*)?)",
        "the dataset's URI must be one this deployment's store serves",
    ),
    # An assignment names a stored model version or alias; canary_version differs from
    # version (x-kubeai-rules).
    "POST /api/v1/services": (
        r"body\.assignments\[\d+\](\.(version|alias|canary_version|model))?",
        "assignments name stored versions; canary_version differs from version",
    ),
    "PUT /api/v1/services/{service}/assignments": (
        r"body\.assignments\[\d+\](\.(version|alias|canary_version|model))?",
        "assignments name stored versions; canary_version differs from version",
    ),
    # Each model and version at most once in a report (x-kubeai-rules).
    "PUT /api/v1/services/{service}/pods/{pod}/status": (
        r"body\.models\[\d+\]",
        "each model and version at most once",
    ),
}


def _fields(response: Any) -> list[str]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return []
    return [str(e.get("field")) for e in body.get("errors", []) if isinstance(e, dict)]


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep ``failure`` unless it is ST202 on a 422 naming only the operation's unstatable
    fields (``UNSTATABLE``)."""
    if failure.code != "ST202" or response.status_code != 422:
        return True
    rule = UNSTATABLE.get(f"{case.operation.method.upper()} {case.operation.path}")
    fields = _fields(response)
    if rule is None or not fields:
        return True
    return not all(re.fullmatch(rule[0], field) for field in fields)
