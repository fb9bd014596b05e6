"""Leader election over a coordination.k8s.io/v1 Lease: only the holder runs the operator.

kopf's peering is not leader election: peers of the same priority all pause (kopf logs that it
found a peer of the same priority and freezes), so two replicas of one Deployment would both
stand still. Here the two replicas compete for one Lease the way client-go's ``leaderelection``
package does (``k8s.io/client-go/tools/leaderelection``): a candidate takes the Lease when it is
free or when its record (holder and renew time) has not changed for ``lease_duration`` seconds of
the candidate's own clock (so clock skew between nodes does not matter); the holder renews it
every ``renew_period``; every write carries the read ``resourceVersion``, so of two writers
racing only one succeeds (409 for the other).

``run_while_leader`` runs a piece of work (the kopf operator) only while the Lease is held: it
stops the work when a renewal has not succeeded within ``lease_duration - renew_period``, before
another candidate may take over, and then returns ``False`` (the process exits and restarts as a
candidate). On a requested stop it stops the work and releases the Lease (holder emptied), so the
other replica takes over at its next attempt instead of after the Lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from glue.controller.kube import status_message

log = structlog.get_logger("kubeai.controller.leader")

LEASE_API = "/apis/coordination.k8s.io/v1"


def micro_time(moment: datetime | None = None) -> str:
    """``moment`` (default now) as a Kubernetes ``MicroTime``: ``2026-01-02T03:04:05.000006Z``."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaderElector:
    """Acquires and renews the Lease ``namespace/name`` as ``identity`` through ``client``.

    ``lease_duration`` and ``renew_period`` are seconds; ``monotonic`` is the clock of expiry
    decisions (a test may pass its own).
    """

    client: httpx.Client
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_period: float = 2.0
    monotonic: Callable[[], float] = time.monotonic
    _observed: tuple[Any, Any] | None = field(default=None, init=False, repr=False)
    _observed_at: float = field(default=0.0, init=False, repr=False)

    @property
    def path(self) -> str:
        """The Lease's URL path."""
        return f"{LEASE_API}/namespaces/{self.namespace}/leases/{self.name}"

    def _spec(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        now = micro_time()
        before = previous or {}
        taking_over = before.get("holderIdentity") != self.identity
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "acquireTime": now if taking_over else before.get("acquireTime", now),
            "renewTime": now,
            "leaseTransitions": int(before.get("leaseTransitions") or 0)
            + (1 if taking_over and previous is not None else 0),
        }

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this candidate holds the Lease afterwards.

        Raises ``httpx.HTTPError`` when the apiserver cannot be reached and
        ``PermissionError`` naming the verb when it refuses with 403.
        """
        response = self.client.get(self.path)
        if response.status_code == 404:
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(None),
            }
            created = self.client.post(
                f"{LEASE_API}/namespaces/{self.namespace}/leases", json=lease
            )
            self._check(created, "create")
            return created.status_code == 201
        self._check(response, "get")
        lease = response.json()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"))
        now = self.monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and now < self._observed_at + duration:
            return False  # another holder, renewing in time
        lease["spec"] = self._spec(spec)
        updated = self.client.put(self.path, json=lease)
        self._check(updated, "update")
        if updated.status_code == 200:
            renewed = updated.json().get("spec") or {}
            self._observed = (renewed.get("holderIdentity"), renewed.get("renewTime"))
            self._observed_at = now
            return True
        return False

    def release(self) -> None:
        """Empty the holder if this candidate holds the Lease (best effort: errors are logged)."""
        try:
            response = self.client.get(self.path)
            if response.status_code != 200:
                return
            lease = response.json()
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            lease["spec"] = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1}
            self.client.put(self.path, json=lease)
        except httpx.HTTPError as exc:
            log.warning("lease release failed", lease=self.name, error=str(exc))

    def _check(self, response: httpx.Response, verb: str) -> None:
        if response.status_code == 403:
            raise PermissionError(
                f"may not {verb} leases in {self.namespace}: {status_message(response)}"
            )
        if response.status_code >= 500:
            raise httpx.HTTPStatusError(
                f"{verb} lease: {response.status_code} {status_message(response)}",
                request=response.request,
                response=response,
            )


async def _attempt(elector: LeaderElector) -> bool:
    try:
        return await asyncio.to_thread(elector.try_acquire_or_renew)
    except httpx.HTTPError as exc:
        log.warning("lease attempt failed", lease=elector.name, error=str(exc))
        return False


async def run_while_leader(
    elector: LeaderElector,
    work: Callable[[asyncio.Event], Awaitable[None]],
    *,
    stop: asyncio.Event,
    on_leading: Callable[[bool], None] = lambda _leading: None,
) -> bool:
    """Campaign for the Lease; while it is held run ``work(stop_work)``; return when done.

    Returns True after a requested ``stop`` (the Lease released), False when leadership was
    lost or ``work`` ended on its own. ``on_leading`` is told each change of leadership.
    Raises ``PermissionError`` when the apiserver refuses access to the Lease.
    """
    while not stop.is_set():
        if await _attempt(elector):
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), elector.renew_period)
    if stop.is_set():
        return True
    log.info("leading", lease=elector.name, identity=elector.identity)
    on_leading(True)
    stop_work = asyncio.Event()
    task = asyncio.ensure_future(work(stop_work))
    deadline = elector.lease_duration - elector.renew_period
    renewed = time.monotonic()
    requested = False
    try:
        while not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), elector.renew_period)
            if stop.is_set():
                requested = True
                break
            if await _attempt(elector):
                renewed = time.monotonic()
            elif time.monotonic() - renewed > deadline:
                log.error("leadership lost", lease=elector.name, identity=elector.identity)
                break
    finally:
        on_leading(False)
        stop_work.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=elector.lease_duration)
        if not task.done():
            task.cancel()
        if requested:
            await asyncio.to_thread(elector.release)
    return requested
