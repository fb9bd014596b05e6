"""The canary gate of model iteration: start a canary, verify it on live metrics, release or roll
back. Every step is a registry call, so the gate runs anywhere the registry is reachable (an Argo
step, the CLI, a test).

``verify`` reads the registry's per-version traffic of the service (``GET .../traffic``: request
and failure counts and p99 latency that the serving agents read from Triton's metrics) over the
``window_s`` seconds up to the call, and compares the canary with the stable version (the
assignment's resolved primary). It does not wait: call it once the canary has served for a
window. It fails (``passed=False``) when the canary is not the service's active canary, has fewer
than ``min_requests`` requests, an error ratio above ``max_error_ratio``, or a p99 above
``max_p99_ratio`` times the stable version's; and when a figure it needs is missing (no p99: Triton
runs without ``--metrics-config=summary_latencies=true``; no stable traffic to compare with). A gate
that cannot decide never passes. Thresholds must be finite (``ValueError``: a NaN bound would
pass every comparison).

``wait_and_verify`` is what the pipeline's verify step runs: it first waits until every canary
pod (a pod the registry hands the canary to, ``GET .../desired?pod=``, among the pods whose
reports are current) reports the canary version READY (``wait_until_ready``, bounded by a
timeout; a pod reporting it FAILED ends the wait at once), then lets the canary serve for
``window_s`` seconds, then judges that window with ``verify``. A canary that never loads fails
with a reason saying which pods did not report it READY.

The figures carry how many live pods serve each side READY (``canary_pods``/``stable_pods``, from
the service's status), and the reason names an empty side: a service with a single live pod serves
the canary on it, so its gate has no stable traffic (it fails when latency is judged, and a pass
on the error ratio alone says there was nothing to compare with).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient

#: The alias ``release`` moves.
PRODUCTION = "production"


@dataclass(frozen=True)
class GateResult:
    """The verdict of ``verify``: ``passed``, a one-line ``reason``, and the ``figures`` it was
    based on (``canary``/``stable``: requests, failures, error_ratio, p99_ms, mean_ms, pods;
    ``canary_pods``/``stable_pods``: live pods serving each side READY; the thresholds;
    ``p99_ratio``)."""

    passed: bool
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


#: Canary requests the gate needs in its window before it judges (fewer: not passed).
MIN_REQUESTS = 20


def start_canary(
    client: RegistryClient, *, service: str, model: str, version: int, share: float
) -> None:
    """Serve ``version`` of ``model`` to ``share`` (0..1) of ``service``'s pods.

    Raises ``RegistryError`` (422) when the version is not newer than the resolved primary or
    does not exist, (404) when the model is not assigned to the service.
    """
    client.set_canary(service, model, version, share, reason="canary started by the gate")


def _assignment(client: RegistryClient, service: str, model: str) -> schemas.ResolvedAssignment:
    found = client.get_service(service)
    for assignment in found.assignments:
        if assignment.model == model:
            return assignment
    raise LookupError(f"service {service!r} has no assignment of model {model!r}")


def _figures(traffic: schemas.TrafficRead, version: int | None) -> dict[str, Any] | None:
    for item in traffic.versions:
        if item.version == version:
            return item.model_dump()
    return None


def check_thresholds(
    *,
    window_s: float,
    max_error_ratio: float,
    max_p99_ratio: float | None,
    max_p99_ms: float | None,
    min_requests: int,
) -> None:
    """``ValueError`` naming the first threshold that is not finite or out of range (window
    > 0, error ratio 0..1, latency bounds >= 0, min requests >= 1)."""
    checks: list[tuple[str, float | None, bool]] = [
        ("window_s", window_s, window_s > 0),
        ("max_error_ratio", max_error_ratio, 0 <= max_error_ratio <= 1),
        ("max_p99_ratio", max_p99_ratio, max_p99_ratio is None or max_p99_ratio >= 0),
        ("max_p99_ms", max_p99_ms, max_p99_ms is None or max_p99_ms >= 0),
        ("min_requests", min_requests, min_requests >= 1),
    ]
    for name, value, in_range in checks:
        if value is not None and (not math.isfinite(value) or not in_range):
            raise ValueError(f"{name}={value!r}: not a finite number in its range")


@dataclass(frozen=True)
class Readiness:
    """Where a canary's loading stands: ``ready`` (every canary pod reports it READY, and there
    is at least one), ``failed`` (a canary pod reports it FAILED: the wait is over), and
    ``detail`` (one line: which pods hold what)."""

    ready: bool
    failed: bool
    detail: str


def canary_readiness(client: RegistryClient, *, service: str, model: str, canary: int) -> Readiness:
    """Whether every canary pod of ``service`` reports version ``canary`` of ``model`` READY
    (registry observed state; pods with stale reports are not counted). Raises like
    ``verify``."""
    found = client.get_service(service)
    assignment = next((a for a in found.assignments if a.model == model), None)
    if assignment is None:
        raise LookupError(f"service {service!r} has no assignment of model {model!r}")
    if assignment.canary_version != canary or assignment.canary_status != "active":
        return Readiness(
            ready=False,
            failed=True,
            detail=f"version {canary} is not the active canary of {service!r} (canary "
            f"{assignment.canary_version}, status {assignment.canary_status})",
        )
    current = [o for o in found.observed if not o.stale]
    pods = sorted({o.pod for o in current})
    canary_pods = [
        pod
        for pod in pods
        if any(
            d.model == model and d.role == "canary" and d.version == canary
            for d in client.desired_state(service, pod).models
        )
    ]
    if not canary_pods:
        return Readiness(
            ready=False,
            failed=False,
            detail=f"no pod of {service!r} is in the canary share yet ({len(pods)} pods report)",
        )
    states: dict[str, str] = {}
    for pod in canary_pods:
        mine = [o for o in current if o.pod == pod and o.model == model and o.version == canary]
        states[pod] = mine[0].state if mine else "not reported"
        if mine and mine[0].state == "FAILED":
            return Readiness(
                ready=False,
                failed=True,
                detail=f"canary pod {pod} failed to load version {canary}: "
                f"{mine[0].error or 'no error given'}",
            )
    waiting = {pod: state for pod, state in states.items() if state != "READY"}
    detail = ", ".join(f"{pod} {state}" for pod, state in sorted(waiting.items()))
    return Readiness(
        ready=not waiting,
        failed=False,
        detail=detail or f"{len(canary_pods)} canary pods READY",
    )


def wait_until_ready(
    client: RegistryClient,
    *,
    service: str,
    model: str,
    canary: int,
    timeout_s: float,
    interval_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Poll ``canary_readiness`` every ``interval_s`` seconds for at most ``timeout_s``: None
    once the canary is READY on every canary pod, else the reason it is not (a pod failed, it is
    no longer the active canary, or the timeout passed). Raises like ``verify``."""
    deadline = clock() + timeout_s
    while True:
        state = canary_readiness(client, service=service, model=model, canary=canary)
        if state.ready:
            return None
        if state.failed:
            return state.detail
        if clock() >= deadline:
            return (
                f"canary version {canary} not READY on every canary pod of {service!r} after "
                f"{timeout_s:g}s: {state.detail}"
            )
        sleep(min(interval_s, max(deadline - clock(), 0.0)))


def wait_and_verify(
    client: RegistryClient,
    *,
    service: str,
    model: str,
    canary: int,
    window_s: float,
    ready_timeout_s: float,
    max_error_ratio: float,
    max_p99_ratio: float | None = None,
    max_p99_ms: float | None = None,
    min_requests: int = MIN_REQUESTS,
    interval_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> GateResult:
    """Wait until the canary is READY on every canary pod (at most ``ready_timeout_s``), let it
    serve ``window_s`` seconds, then ``verify`` that window. A canary that does not become
    ready fails (``passed=False``) with the reason. Raises like ``verify``."""
    limits: dict[str, Any] = {
        "window_s": window_s,
        "max_error_ratio": max_error_ratio,
        "max_p99_ratio": max_p99_ratio,
        "max_p99_ms": max_p99_ms,
        "min_requests": min_requests,
    }
    check_thresholds(**limits)
    if not math.isfinite(ready_timeout_s) or ready_timeout_s < 0:
        raise ValueError(f"ready_timeout_s={ready_timeout_s!r}: not a finite number >= 0")
    problem = wait_until_ready(
        client,
        service=service,
        model=model,
        canary=canary,
        timeout_s=ready_timeout_s,
        interval_s=interval_s,
        clock=clock,
        sleep=sleep,
    )
    figures = {"service": service, "model": model, "canary_version": canary, **limits}
    if problem is not None:
        return GateResult(passed=False, reason=problem, figures=figures)
    sleep(window_s)
    return verify(client, service=service, model=model, canary=canary, **limits)


def verify(
    client: RegistryClient,
    *,
    service: str,
    model: str,
    canary: int,
    window_s: float,
    max_error_ratio: float,
    max_p99_ratio: float | None = None,
    max_p99_ms: float | None = None,
    min_requests: int = MIN_REQUESTS,
) -> GateResult:
    """Judge canary ``canary`` of ``model`` on ``service`` over the last ``window_s`` seconds.

    ``max_error_ratio``: failures / requests allowed (0..1); ``max_p99_ratio``: canary p99 /
    stable p99 allowed; ``max_p99_ms``: milliseconds the canary's p99 may exceed the stable
    version's (either latency bound, or both; with neither, latency is not judged);
    ``min_requests``: canary requests needed to judge. Raises
    ``RegistryError``/``RegistryUnavailable`` when the registry refuses or cannot be reached,
    ``LookupError`` when the model is not assigned to the service, ``ValueError`` naming a
    threshold that is not a finite number in its range.
    """
    check_thresholds(
        window_s=window_s,
        max_error_ratio=max_error_ratio,
        max_p99_ratio=max_p99_ratio,
        max_p99_ms=max_p99_ms,
        min_requests=min_requests,
    )
    assignment = _assignment(client, service, model)
    stable_version = assignment.resolved_version
    traffic = client.traffic(service, model, window_s=window_s)
    figures: dict[str, Any] = {
        "service": service,
        "model": model,
        "canary_version": canary,
        "stable_version": stable_version,
        "window_s": window_s,
        "max_error_ratio": max_error_ratio,
        "max_p99_ratio": max_p99_ratio,
        "max_p99_ms": max_p99_ms,
        "min_requests": min_requests,
        "canary": _figures(traffic, canary),
        "stable": _figures(traffic, stable_version),
        "canary_pods": assignment.canary_pods,
        "stable_pods": assignment.stable_pods,
    }
    no_stable_pod = (
        f"no live pod serves stable version {stable_version} "
        f"({assignment.canary_pods} serve the canary)"
        if not assignment.stable_pods
        else ""
    )

    def fail(reason: str) -> GateResult:
        return GateResult(passed=False, reason=reason, figures=figures)

    if assignment.canary_version != canary or assignment.canary_status != "active":
        return fail(
            f"version {canary} is not the active canary of {service!r} (canary "
            f"{assignment.canary_version}, status {assignment.canary_status})"
        )
    mine, stable = figures["canary"], figures["stable"]
    if mine is None or mine["requests"] < min_requests:
        seen = mine["requests"] if mine else 0
        empty = "; no live pod serves it" if not assignment.canary_pods else ""
        return fail(
            f"canary served {seen} requests in {window_s:g}s, fewer than {min_requests}{empty}"
        )
    if mine["error_ratio"] > max_error_ratio:
        return fail(
            f"canary error ratio {mine['error_ratio']:.4f} ({mine['failures']}/"
            f"{mine['requests']}) > {max_error_ratio:g}"
        )
    passed = [
        f"canary {canary}: {mine['requests']} requests, error ratio "
        f"{mine['error_ratio']:.4f} <= {max_error_ratio:g}"
    ]
    if max_p99_ratio is not None or max_p99_ms is not None:
        if stable is None or not stable["requests"]:
            why = f"; {no_stable_pod}" if no_stable_pod else ""
            return fail(f"stable version {stable_version} served no requests in {window_s:g}s{why}")
        if mine["p99_ms"] is None or stable["p99_ms"] is None:
            return fail(
                "no p99 latency reported: run tritonserver with "
                "--metrics-config=summary_latencies=true"
            )
        ratio = mine["p99_ms"] / stable["p99_ms"] if stable["p99_ms"] > 0 else float("inf")
        excess = mine["p99_ms"] - stable["p99_ms"]
        figures["p99_ratio"] = ratio
        figures["p99_excess_ms"] = excess
        if max_p99_ratio is not None:
            if ratio > max_p99_ratio:
                return fail(
                    f"canary p99 {mine['p99_ms']:.3f} ms is {ratio:.2f}x stable's "
                    f"{stable['p99_ms']:.3f} ms > {max_p99_ratio:g}x"
                )
            passed.append(f"p99 {ratio:.2f}x stable <= {max_p99_ratio:g}x")
        if max_p99_ms is not None:
            if excess > max_p99_ms:
                return fail(
                    f"canary p99 {mine['p99_ms']:.3f} ms exceeds stable's "
                    f"{stable['p99_ms']:.3f} ms by {excess:.3f} ms > {max_p99_ms:g} ms"
                )
            passed.append(f"p99 {excess:+.3f} ms vs stable <= {max_p99_ms:g} ms")
    elif no_stable_pod:
        passed.append(f"{no_stable_pod}: nothing to compare with")
    return GateResult(passed=True, reason=", ".join(passed), figures=figures)


def release(client: RegistryClient, *, service: str, model: str, version: int, reason: str) -> None:
    """Move ``production`` of ``model`` to ``version`` and clear the service's canary.

    A service following ``production`` loses the canary with the move itself (the registry
    clears a canary the primary caught up with, in the same transaction); any other canary left
    on the service is cleared with ``reason``.
    """
    client.set_alias(model, PRODUCTION, version, reason=reason)
    if _assignment(client, service, model).canary_version is not None:
        client.clear_canary(service, model, reason=reason)


def rollback(
    client: RegistryClient, *, service: str, model: str, version: int, reason: str
) -> None:
    """Stop serving canary ``version`` of ``model`` on ``service``; the registry records the
    cleared version and ``reason`` on the assignment and in the audit log (``canary.clear``).

    A canary other than ``version`` is left alone (someone replaced it meanwhile).
    """
    if _assignment(client, service, model).canary_version == version:
        client.clear_canary(service, model, reason=reason)
