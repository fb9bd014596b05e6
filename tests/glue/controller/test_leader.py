"""run_while_leader: the work runs only while the Lease is held; a stop releases it, a loss
stops the work. (LeaderElector against the real apiserver: tests/cluster/test_controller_jobs.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from glue.controller.leader import LeaderElector, micro_time, run_while_leader
from tests.support.aio import run_isolated


@dataclass
class ScriptedElector(LeaderElector):
    """Answers ``try_acquire_or_renew`` from ``answers`` (then repeats the last one)."""

    answers: list[bool] = field(default_factory=list)
    released: bool = False

    def try_acquire_or_renew(self) -> bool:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def release(self) -> None:
        self.released = True


def elector(*answers: bool) -> ScriptedElector:
    return ScriptedElector(
        client=httpx.Client(),
        namespace="kubeai",
        name="lease",
        identity="me",
        lease_duration=0.6,
        renew_period=0.05,
        answers=list(answers),
    )


def test_work_starts_after_acquiring_and_stops_on_request() -> None:
    seen: list[str | bool] = []

    async def work(stop_work: asyncio.Event) -> None:
        seen.append("started")
        await stop_work.wait()
        seen.append("stopped")

    async def main() -> tuple[bool, ScriptedElector]:
        candidate = elector(False, False, True)
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.4, stop.set)
        return await run_while_leader(candidate, work, stop=stop, on_leading=seen.append), candidate

    requested, candidate = run_isolated(main())
    assert requested is True and candidate.released
    assert seen == [True, "started", False, "stopped"]


def test_a_lost_lease_stops_the_work_without_release() -> None:
    stopped = asyncio.Event

    async def main() -> tuple[bool, ScriptedElector, bool]:
        candidate = elector(True, False)  # acquired once, never renewed again
        done = stopped()

        async def work(stop_work: asyncio.Event) -> None:
            await stop_work.wait()
            done.set()

        result = await run_while_leader(candidate, work, stop=asyncio.Event())
        return result, candidate, done.is_set()

    requested, candidate, work_stopped = run_isolated(main())
    assert requested is False and work_stopped and not candidate.released


def test_micro_time() -> None:
    assert micro_time().endswith("Z") and len(micro_time()) == len("2026-01-02T03:04:05.000006Z")
