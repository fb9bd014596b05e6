"""``kubeai:pipelines`` of a team stack: the model-iteration pipeline (Argo Workflows) the team
stack installs in the team namespace (``glue.pipelines.templates``).

Keys::

    kubeai:pipelines:
      modelIteration: true          # the WorkflowTemplate model-iteration (default: true)
      retraining:                   # CronWorkflows running it on a schedule (default: none)
        - name: digits-nightly      # the CronWorkflow's name
          schedule: "0 3 * * *"     # cron syntax (5 fields) or @daily, @every 6h, ...
          timezone: Europe/Berlin   # IANA zone of the schedule (default UTC)
          suspend: false            # keep it installed but do not run it
          model: digits             # registry model (the job gets kubeai.dev/model)
          service: digits           # one of kubeai:inferenceServices: gets the canary
          dataset: mnist            # optional, one of kubeai:datasets: warmed first
          canaryShare: 0.2          # share of the service's replicas serving the canary
          canaryReadyTimeoutSeconds: 600  # seconds verify waits for every canary pod to
                                    # report the version READY
          verifyWindowSeconds: 300  # seconds of canary traffic the gate waits for and compares
                                    # (at most 3600: the registry's traffic window)
          maxErrorRatio: 0.01       # highest canary error ratio
          maxP99LatencyMs: 50       # ms the canary's p99 may exceed the stable version's
                                    # (null: not judged)
          maxP99Ratio: 1.5          # highest canary p99 / stable p99 (default null: not judged)
          minRequests: 20           # canary requests the gate needs in its window to judge
          versionTimeoutSeconds: 3600
          job: {...}                # a kubeflow.org/v1 PyTorchJob/TFJob/XGBoostJob/MPIJob

The template and CronWorkflows need Argo on the platform (``kubeai:addons.argo.enabled``, which
installs their CRDs): on a platform without it the team stack is refused unless
``modelIteration: false`` (``platform_problems``).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints, field_validator, model_validator

from glue.pipelines.parameters import MAX_WINDOW_S
from infra.config.shared import DNS_LABEL, NAMESPACE, Name, Strict

#: Schedule syntax of the pinned CronWorkflow CRD (argo-workflows v4.1.2 ``spec.schedules``).
SCHEDULE = re.compile(
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every\s+([0-9]+(ns|us|µs|ms|s|m|h))+"
    r"|([A-Za-z0-9*,/?-]+\s+){4}[A-Za-z0-9*,/?-]+)$"
)
#: Longest CronWorkflow name: Argo appends a 10-digit timestamp to name each run.
CRON_NAME_MAX = 52


def _bound(value: float | None) -> str:
    """A latency bound as a template parameter: empty when not judged."""
    return "" if value is None else f"{value:g}"


class Retraining(Strict):
    """``kubeai:pipelines.retraining[]``: one CronWorkflow (module docstring)."""

    name: Annotated[
        str, StringConstraints(min_length=1, max_length=CRON_NAME_MAX, pattern=DNS_LABEL)
    ]
    schedule: str
    timezone: str = "UTC"
    suspend: bool = False
    model: Name
    service: Name
    dataset: Name | None = None
    canary_share: float = Field(default=0.2, gt=0, lt=1, allow_inf_nan=False)
    canary_ready_timeout_seconds: int = Field(default=600, ge=0, le=86_400)
    verify_window_seconds: int = Field(default=300, ge=10, le=MAX_WINDOW_S)
    max_error_ratio: float = Field(default=0.01, ge=0, le=1, allow_inf_nan=False)
    max_p99_latency_ms: float | None = Field(default=50, ge=0, le=600_000, allow_inf_nan=False)
    max_p99_ratio: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    min_requests: int = Field(default=20, ge=1, le=1_000_000)
    version_timeout_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    job: dict[str, Any]

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not SCHEDULE.match(value):
            raise ValueError(
                f"{value!r} is no schedule the CronWorkflow CRD admits: five cron fields "
                "('0 3 * * *') or @hourly/@daily/@weekly/@monthly/@yearly or '@every 6h'"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is no IANA time zone (e.g. UTC, Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _job(self) -> Retraining:
        from glue.pipelines.training_job import JobManifestError, prepare_job

        try:
            prepare_job(json.dumps(self.job), model=self.model)
        except JobManifestError as exc:
            raise ValueError(f"job: {exc}".replace("job: training job: ", "job: ")) from None
        return self

    def parameters(self) -> dict[str, str]:
        """The template parameters of a run (``glue.pipelines.templates.PARAMETERS``)."""
        values = {
            "model": self.model,
            "service": self.service,
            "training-job": json.dumps(self.job, sort_keys=True),
            "canary-share": f"{self.canary_share:g}",
            "canary-ready-timeout": str(self.canary_ready_timeout_seconds),
            "verify-window": str(self.verify_window_seconds),
            "max-error-ratio": f"{self.max_error_ratio:g}",
            "max-p99-latency-ms": _bound(self.max_p99_latency_ms),
            "max-p99-ratio": _bound(self.max_p99_ratio),
            "min-requests": str(self.min_requests),
            "version-timeout": str(self.version_timeout_seconds),
        }
        if self.dataset:
            values["dataset"] = self.dataset
        return values


class Pipelines(Strict):
    """``kubeai:pipelines``: the model-iteration WorkflowTemplate and retraining schedules."""

    model_iteration: bool = True
    retraining: list[Retraining] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _unique(self) -> Pipelines:
        names = [r.name for r in self.retraining]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"retraining names must be unique: {', '.join(duplicates)}")
        if self.retraining and not self.model_iteration:
            raise ValueError("retraining runs the model-iteration template: keep modelIteration")
        return self

    def team_problems(self, datasets: list[str], services: list[str]) -> list[tuple[str, str]]:
        """Retraining entries naming a dataset or service the team stack does not declare:
        ``[(key path, message)]``."""
        problems: list[tuple[str, str]] = []
        for index, entry in enumerate(self.retraining):
            where = f"{NAMESPACE}:pipelines.retraining[{index}]"
            if entry.service not in services:
                problems.append(
                    (
                        f"{where}.service",
                        f"{entry.service!r} is not one of kubeai:inferenceServices "
                        f"({', '.join(services) or 'none'})",
                    )
                )
            if entry.dataset is not None and entry.dataset not in datasets:
                problems.append(
                    (
                        f"{where}.dataset",
                        f"{entry.dataset!r} is not one of kubeai:datasets "
                        f"({', '.join(datasets) or 'none'})",
                    )
                )
        return problems

    def platform_problems(self, argo_enabled: bool, platform_stack: str) -> list[tuple[str, str]]:
        """Pipelines asked of a platform without Argo Workflows: ``[(key path, message)]``."""
        if not self.model_iteration or argo_enabled:
            return []
        where = (
            f"Argo Workflows is disabled on platform stack {platform_stack!r} "
            "(kubeai:addons.argo.enabled)"
        )
        if self.retraining:
            return [(f"{NAMESPACE}:pipelines.retraining", f"{where}: no CronWorkflow can run")]
        return [
            (
                f"{NAMESPACE}:pipelines.modelIteration",
                f"{where}, which installs the WorkflowTemplate CRD: set modelIteration: false",
            )
        ]
