"""Argo resource-step conditions: the ones the pipeline uses, and an evaluator that reads them
as Argo does.

How Argo evaluates a resource template's ``successCondition``/``failureCondition``
(argoproj/argo-workflows ``workflow/executor/resource.go``: ``WaitResource``,
``checkResourceState``, ``matchConditions``, ``gjsonLabels``), every 5 s
(``RESOURCE_STATE_CHECK_INTERVAL``) on the object as the apiserver returns it (JSON):

* each condition string is parsed by ``labels.Parse`` of k8s.io/apimachinery
  (``pkg/labels/selector.go``): comma-separated requirements ``key``, ``!key``, ``key=v``,
  ``key==v``, ``key!=v``, ``key in (a,b)``, ``key notin (a,b)``, ``key>n``, ``key<n``. The key
  must be a qualified name (``[prefix/]name``, name at most 63 characters of ``[A-Za-z0-9_.-]``
  starting and ending alphanumeric) and every value a label value, else the step errors at start
  ("failed to parse");
* a key is read as a gjson path (``Has`` = ``gjson.GetBytes(json, key).Exists()``, ``Get`` =
  its ``String()``). A qualified name leaves only dotted object keys and array indices
  (``status.conditions.0.type``): gjson queries (``#(...)``), wildcards and modifiers contain
  characters a qualified name cannot hold, so an unordered array can be searched only slot by
  slot;
* the failure requirements are tried first, each on its own: ANY that matches fails the step;
  the step succeeds when ALL success requirements match (an empty success condition matches at
  once); otherwise it polls again. Both empty: the step succeeds at once.

So a condition can neither AND two fields of the same array element nor OR across requirements
of the success condition. The training-job conditions below are built around that, from how the
training operator writes a job's status (kubeflow/training-operator v1.9.4,
``pkg/util/status.go`` ``setCondition``/``filterOutCondition`` and the framework controllers'
``UpdateJobStatus``):

* ``status.conditions`` holds at most one entry per condition type (``JOB_CONDITION_TYPES``), so
  ``CONDITION_SLOTS`` slots cover every position a type can take;
* ``Failed`` is only ever written with status ``True`` and, once there, the operator changes no
  condition again; ``Restarting`` (a replica failed and will be recreated under restart policy
  ``OnFailure``/``ExitCode``, with ``replicaStatuses.<type>.failed`` > 0 meanwhile), ``Created``,
  ``Running`` and ``Suspended`` are transient;
* ``status.completionTime`` is set exactly when the job finishes: with the ``Succeeded``
  condition, or with ``Failed`` (backoff limit, active deadline).

Hence ``TRAINING_FAILURE``: some slot holds type ``Failed``; ``TRAINING_SUCCESS``: the job has a
``completionTime`` and no slot holds ``Failed``. A replica count (``replicaStatuses.Master.failed
> 0``) would fail the step on a restart the operator is still handling; tests/glue/pipelines
evaluate both against status objects of the pinned CRD.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

#: kubeflow.org/v1 ``JobConditionType`` values at training-operator v1.9.4
#: (``pkg/apis/kubeflow.org/v1/common_types.go``).
JOB_CONDITION_TYPES = ("Created", "Running", "Restarting", "Succeeded", "Suspended", "Failed")
#: Positions ``status.conditions`` can have: one entry per type at most.
CONDITION_SLOTS = len(JOB_CONDITION_TYPES)

#: Failure condition of the training-job step: any condition slot is ``Failed``.
TRAINING_FAILURE = ",".join(f"status.conditions.{i}.type==Failed" for i in range(CONDITION_SLOTS))
#: Success condition of the training-job step: finished (``completionTime``) and not failed.
TRAINING_SUCCESS = ",".join(
    [
        "status.completionTime",
        *(f"status.conditions.{i}.type!=Failed" for i in range(CONDITION_SLOTS)),
    ]
)
#: Fluid DataLoad phases (data.fluid.io/v1alpha1 at Fluid v1.0.8, ``pkg/common``): ``Pending``,
#: ``Executing``, then ``Complete`` or ``Failed``.
DATALOAD_SUCCESS = "status.phase==Complete"
DATALOAD_FAILURE = "status.phase==Failed"

Operator = Literal["exists", "!", "=", "==", "!=", "in", "notin", ">", "<"]
Outcome = Literal["succeeded", "failed", "pending"]

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SPECIAL = "=!(),><"
_SYMBOLS = ("!=", "==", "=", "!", "(", ")", ",", ">", "<")


class ConditionError(ValueError):
    """A condition Argo would refuse to parse (the message says where and why)."""


@dataclass(frozen=True)
class Requirement:
    """One requirement of a selector: ``key``, ``operator`` and its ``values``."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, document: Any) -> bool:
        """Whether the requirement holds on ``document`` (a decoded JSON object), as
        apimachinery's ``Requirement.Matches`` over Argo's ``gjsonLabels``."""
        found, value = gjson_get(document, self.key)
        if self.operator in ("=", "==", "in"):
            return found and value in self.values
        if self.operator in ("!=", "notin"):
            return not found or value not in self.values
        if self.operator == "exists":
            return found
        if self.operator == "!":
            return not found
        if not found or not re.fullmatch(r"[+-]?[0-9]+", value):
            return False  # Go's strconv.ParseInt(value, 10, 64) fails: no match
        number, bound = int(value), int(self.values[0])
        return number > bound if self.operator == ">" else number < bound


def _check_key(key: str, condition: str) -> None:
    """apimachinery ``validateLabelKey``: a qualified name."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise ConditionError(f"{condition!r}: key {key!r}: its prefix is no DNS subdomain")
    if not name or len(name) > 63 or not _NAME.match(name):
        raise ConditionError(
            f"{condition!r}: key {key!r} is no qualified name (at most 63 characters of "
            "[A-Za-z0-9_.-], alphanumeric at both ends, after an optional DNS prefix and '/'): "
            "Argo's label-selector parser refuses it"
        )


def _check_value(value: str, key: str, condition: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ConditionError(f"{condition!r}: value {value!r} of {key!r} is no label value")


def _tokens(condition: str) -> list[tuple[str, str]]:
    """apimachinery's ``Lexer``: ``(kind, text)`` with kind ``id`` or the symbol itself."""
    out: list[tuple[str, str]] = []
    index = 0
    while index < len(condition):
        char = condition[index]
        if char in " \t\r\n":
            index += 1
        elif char in _SPECIAL:
            symbol = next((s for s in _SYMBOLS if condition.startswith(s, index)), None)
            if symbol is None:
                raise ConditionError(f"{condition!r}: unexpected {char!r} at {index}")
            out.append((symbol, symbol))
            index += len(symbol)
        else:
            end = index
            while end < len(condition) and condition[end] not in _SPECIAL + " \t\r\n":
                end += 1
            word = condition[index:end]
            out.append((word if word in ("in", "notin") else "id", word))
            index = end
    return out


def parse(condition: str) -> list[Requirement]:
    """The requirements of ``condition`` as apimachinery's ``labels.Parse`` reads them; an
    empty condition has none. Raises ``ConditionError`` where Argo's parse would fail."""
    tokens = _tokens(condition)
    requirements: list[Requirement] = []
    position = 0

    def take() -> tuple[str, str]:
        nonlocal position
        token = tokens[position] if position < len(tokens) else ("end", "")
        position += 1
        return token

    def peek() -> str:
        return tokens[position][0] if position < len(tokens) else "end"

    while position < len(tokens):
        negated = peek() == "!"
        if negated:
            take()
        kind, key = take()
        if kind != "id":
            raise ConditionError(f"{condition!r}: expected a key, found {key or 'the end'!r}")
        _check_key(key, condition)
        if negated or peek() in (",", "end"):
            requirement = Requirement(key, "!" if negated else "exists")
        else:
            operator, text = take()
            if operator not in ("=", "==", "!=", "in", "notin", ">", "<"):
                raise ConditionError(f"{condition!r}: {text!r} is no operator after {key!r}")
            if operator in ("in", "notin"):
                if take()[0] != "(":
                    raise ConditionError(f"{condition!r}: expected '(' after {operator}")
                values: list[str] = []
                while True:
                    kind, text = take()
                    if kind in ("id", "in", "notin"):
                        values.append(text)
                        kind, text = take()
                    else:
                        values.append("")
                    if kind == ")":
                        break
                    if kind != ",":
                        raise ConditionError(f"{condition!r}: expected ',' or ')' in {key!r}")
            elif peek() in (",", "end"):
                values = [""]
            else:
                kind, text = take()
                if kind not in ("id", "in", "notin"):
                    raise ConditionError(f"{condition!r}: expected a value after {key}{operator}")
                values = [text]
            if operator in (">", "<") and not re.fullmatch(r"[+-]?[0-9]+", values[0]):
                raise ConditionError(f"{condition!r}: {key}{operator} needs an integer")
            for value in values:
                _check_value(value, key, condition)
            requirement = Requirement(key, operator, tuple(values))  # type: ignore[arg-type]
        requirements.append(requirement)
        following = take()[0]
        if following not in (",", "end"):
            raise ConditionError(f"{condition!r}: expected ',' after {key!r}")
    return requirements


def _gjson_string(value: Any) -> str:
    """gjson ``Result.String()`` of a decoded JSON value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # Go strconv.FormatFloat(f, 'f', -1, 64)
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def gjson_get(document: Any, path: str) -> tuple[bool, str]:
    """``(Exists(), String())`` of gjson's ``Get(document, path)`` for the paths a qualified
    name can spell: dot-separated object keys, and array indices where the value is an array."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, ""
    return True, _gjson_string(value)


def evaluate(document: dict[str, Any], *, success: str = "", failure: str = "") -> Outcome:
    """What Argo's resource step concludes on ``document`` (the object as the apiserver returns
    it): ``failed`` (any failure requirement matches), ``succeeded`` (all success requirements
    match; also when both conditions are empty) or ``pending`` (polls again).

    Raises ``ConditionError`` when a condition would not parse.
    """
    failure_requirements = parse(failure) if failure else []
    success_requirements = parse(success) if success else []
    if not success and not failure:
        return "succeeded"
    if any(r.matches(document) for r in failure_requirements):
        return "failed"
    if all(r.matches(document) for r in success_requirements):
        return "succeeded"
    return "pending"
