"""Readiness of a serving pod: every model assigned to it is served, as the agent confirmed it.

The rule (``assess``) takes the pod's desired state from the registry (one version per model; on
a canary pod the canary version of each model it canaries, the primary of the others) and the
agent's latest read of Triton's repository index. Each assigned model is:

- ``loaded``: its assigned version is READY in the index;
- ``previous``: the assigned version is not READY (being downloaded or loaded, or its load
  failed) but an earlier version of the same model is READY and serves. A hot swap keeps the old
  version serving until the new one is READY, and a failed load leaves it serving, so the pod
  still answers for that model and stays Ready. A bad new version, which every pod of the
  service gets at once, therefore never empties the Service: it is reported FAILED to the
  registry instead;
- ``missing``: no version of the model is READY (a new pod before its first load, or a version
  that failed with nothing older loaded): the pod is not Ready.

The pod is Ready when no assigned model is ``missing``. Models whose alias resolves to nothing
(``unresolved``) name no version and do not count; a service with no assignments is Ready. Before
the registry's desired state was fetched once the pod is not Ready (``waiting``); a later registry
outage keeps the last desired state (the pod goes on serving what it served). While tritonserver
is unreachable the pod is not Ready.

At probe time (``ReadinessGate.probe``) each version the agent confirmed serving is asked of
tritonserver once more (``/v2/models/<m>/versions/<v>/ready``, a read that never waits for a
load in progress), so a tritonserver that restarted empty between two reconciles does not leave
the pod Ready until the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from glue.model_registry.schemas import DesiredState
from glue.serving_agent.reporter import Key
from glue.triton.repository import RepositoryEntry

ModelReadinessState = Literal["loaded", "previous", "missing"]

#: Readiness before the agent fetched its desired state for the first time.
NOT_STARTED = "no reconcile yet: the registry's desired state was not fetched"


@dataclass(frozen=True)
class ModelReadiness:
    """One assigned model of the pod.

    Attributes:
        model: model name.
        version: the version assigned to this pod.
        role: ``primary`` or ``canary``.
        state: ``loaded``, ``previous`` or ``missing`` (see the module docstring).
        serving: the READY version that answers for the model (``version`` when loaded, the
            newest older READY one when previous), None when missing.
        error: why the assigned version is not served, when the agent knows (``reason: text``).
    """

    model: str
    version: int
    role: str
    state: ModelReadinessState
    serving: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (``error`` only when set)."""
        data: dict[str, object] = {
            "model": self.model,
            "version": self.version,
            "role": self.role,
            "state": self.state,
            "serving": self.serving,
        }
        if self.error:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class Readiness:
    """The pod's readiness: ``ready``, a one-line ``reason`` and each assigned model.

    Attributes:
        ready: the pod may take traffic.
        reason: why (names the missing models and versions when not ready).
        models: every assigned model, in the desired state's order.
        unresolved: assigned models whose alias points at no version yet.
    """

    ready: bool
    reason: str
    models: tuple[ModelReadiness, ...] = ()
    unresolved: tuple[str, ...] = ()

    def body(self) -> dict[str, object]:
        """The JSON body of ``/readyz``: ``ready``, ``reason``, ``models``, ``unresolved``."""
        return {
            "ready": self.ready,
            "reason": self.reason,
            "models": [m.as_dict() for m in self.models],
            "unresolved": list(self.unresolved),
        }


def waiting(reason: str) -> Readiness:
    """Not ready, with nothing confirmed (no desired state yet, or tritonserver unreachable)."""
    return Readiness(ready=False, reason=reason)


def _describe(model: ModelReadiness) -> str:
    text = f"{model.model} version {model.version} ({model.role})"
    return f"{text}: {model.error}" if model.error else text


def _summary(models: Iterable[ModelReadiness]) -> tuple[bool, str]:
    models = list(models)
    missing = [m for m in models if m.state == "missing"]
    if missing:
        return False, "not loaded: " + "; ".join(_describe(m) for m in missing)
    pending = [m for m in models if m.state == "previous"]
    if pending:
        return True, "serving an earlier version while the assigned one is not loaded: " + (
            "; ".join(f"{_describe(m)}, version {m.serving} serves" for m in pending)
        )
    if not models:
        return True, "no model versions are assigned to this pod"
    return True, "every assigned model version is loaded"


def assess(
    desired: DesiredState, index: Iterable[RepositoryEntry], failures: Mapping[Key, str]
) -> Readiness:
    """Readiness of the pod for ``desired`` given Triton's repository ``index``.

    Args:
        desired: the pod's desired state from the registry.
        index: rows of Triton's repository index, as the agent read it.
        failures: ``(model, version)`` -> error text of desired versions that failed.
    """
    ready_versions: dict[str, set[int]] = {}
    for entry in index:
        if entry.state == "READY" and entry.version is not None:
            ready_versions.setdefault(entry.name, set()).add(entry.version)
    models = []
    for wanted in desired.models:
        ready = ready_versions.get(wanted.model, set())
        error = failures.get((wanted.model, wanted.version))
        if wanted.version in ready:
            state: ModelReadinessState = "loaded"
            serving: int | None = wanted.version
            error = None
        elif ready:
            state, serving = "previous", max(ready)
        else:
            state, serving = "missing", None
        models.append(
            ModelReadiness(
                model=wanted.model,
                version=wanted.version,
                role=wanted.role,
                state=state,
                serving=serving,
                error=error,
            )
        )
    ready_now, reason = _summary(models)
    return Readiness(
        ready=ready_now, reason=reason, models=tuple(models), unresolved=tuple(desired.unresolved)
    )


class ReadinessGate:
    """Holds the latest ``Readiness`` the agent assessed; answers probes from any thread.

    Args:
        version_ready: ``(model, version) -> bool``, whether tritonserver serves that version
            right now; it must not raise and must not wait for a load in progress. None skips
            the probe-time check.
    """

    def __init__(self, version_ready: Callable[[str, int], bool] | None = None) -> None:
        self._version_ready = version_ready
        self._lock = threading.Lock()
        self._current = waiting(NOT_STARTED)

    @property
    def current(self) -> Readiness:
        """The latest assessment, as the agent set it."""
        with self._lock:
            return self._current

    def set(self, readiness: Readiness) -> None:
        """Replace the assessment (called by the agent during each reconcile)."""
        with self._lock:
            self._current = readiness

    def probe(self) -> Readiness:
        """The latest assessment, checked against tritonserver now.

        A model the assessment counts as served stays so when tritonserver answers ready for
        its serving version or its assigned one (a swap may finish between the agent's
        confirmation and the probe); otherwise it turns ``missing`` and the pod is not ready.
        """
        current = self.current
        if not current.ready or self._version_ready is None:
            return current
        models = []
        for model in current.models:
            candidates = dict.fromkeys((model.serving, model.version))
            if not any(v is not None and self._version_ready(model.model, v) for v in candidates):
                model = replace(
                    model,
                    state="missing",
                    serving=None,
                    error=f"version {model.serving} is no longer ready in tritonserver",
                )
            models.append(model)
        if all(m.state != "missing" for m in models):
            return current
        ready, reason = _summary(models)
        return replace(current, ready=ready, reason=reason, models=tuple(models))
