"""The values the model-iteration template's parameters may take, checked before anything runs.

Every parameter reaches a step as text, hours after ``kubeai pipeline submit`` or a team stack
set it; a value the step (or the registry behind it) refuses then fails the run late, and a NaN
threshold passes every comparison. ``check_parameters`` refuses such values up front, naming the
parameter; ``kubeai pipeline submit`` (also ``--dry-run``), ``build_workflow`` and
``build_cron_workflow`` call it, and the step options and ``kubeai:pipelines`` keys use the same
bounds (the constants below).

Names (``model``, ``service``, ``dataset``) follow the registry's ``Name`` rule (a DNS-1123
label, ``glue.model_registry.schemas.Name``); numbers must be finite and within the bounds the
registry accepts: ``canary-share`` strictly between 0 and 1 (``CanarySet.share``),
``verify-window`` 1..``MAX_WINDOW_S`` seconds (the registry's traffic window).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from glue.model_registry.schemas import TRAFFIC_RETENTION_S, Name

#: Longest verify window (seconds): the registry's traffic endpoint keeps and answers this much.
MAX_WINDOW_S = TRAFFIC_RETENTION_S
#: Shortest verify window (seconds) the registry's traffic endpoint answers.
MIN_WINDOW_S = 1


def _empty_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


#: Share of a service's pods serving the canary (the registry's ``CanarySet.share``).
Share = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
#: Highest error ratio (failures / requests).
ErrorRatio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
#: Seconds of traffic the gate judges.
Window = Annotated[float, Field(ge=MIN_WINDOW_S, le=MAX_WINDOW_S, allow_inf_nan=False)]
#: Seconds a step waits (0: look once).
Timeout = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: A latency bound (ms or ratio); empty text: not judged.
LatencyBound = Annotated[
    Annotated[float, Field(ge=0, allow_inf_nan=False)] | None, BeforeValidator(_empty_is_none)
]
#: Canary requests the gate needs.
MinRequests = Annotated[int, Field(ge=1)]
#: An optional name (empty: none).
OptionalName = Annotated[Name | None, BeforeValidator(_empty_is_none)]

#: The type of each template parameter's value (``templates.PARAMETERS`` names the same ones).
TYPES: dict[str, Any] = {
    "model": Name,
    "training-job": Annotated[str, Field(min_length=1)],
    "service": Name,
    "dataset": OptionalName,
    "canary-share": Share,
    "version-timeout": Timeout,
    "canary-ready-timeout": Timeout,
    "verify-window": Window,
    "max-error-ratio": ErrorRatio,
    "max-p99-latency-ms": LatencyBound,
    "max-p99-ratio": LatencyBound,
    "min-requests": MinRequests,
}
_ADAPTERS = {name: TypeAdapter(kind) for name, kind in TYPES.items()}


class ParameterError(ValueError):
    """Template parameter values that cannot run; ``problems`` maps each parameter to why."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.problems.items()))


def _message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    text = str(error["msg"])
    if error["type"] == "finite_number":
        text = "must be a finite number (not NaN or infinity)"
    return f"{error['input']!r}: {text}"


def check_parameters(values: Mapping[str, str]) -> dict[str, Any]:
    """The parsed value of each parameter in ``values`` (name -> text), by ``TYPES``.

    Raises ``ParameterError`` naming every parameter whose text is not a valid value (unknown
    names are ``templates``' concern and pass through unparsed).
    """
    parsed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, text in values.items():
        adapter = _ADAPTERS.get(name)
        if adapter is None:
            continue
        try:
            parsed[name] = adapter.validate_python(text)
        except ValidationError as exc:
            problems[name] = _message(exc)
    if problems:
        raise ParameterError(problems)
    return parsed
