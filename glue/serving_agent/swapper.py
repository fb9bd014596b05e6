"""The agent's swapper: has tritonserver serve exactly one version of a model, and unloads the rest.

A hot swap to version N is one load with version policy ``specific [N]`` (the config sent as
the load's override): Triton loads N while the old version keeps serving and unloads the old one
only once N is ready; a failed load leaves the old one serving. The swapper then confirms N READY
in the repository index (a 200 alone is not proof) and waits for the old version to go. In-flight
and new requests never fail.

An earlier design loaded ``[old, N]`` first; with tritonserver 2.51 a load that re-initialises a
loaded version while another version loads crashed the server (SIGSEGV, seen in the test suite),
so the swapper never asks Triton to touch the version being served.

Models no longer desired are unloaded (their files stay for a fast rollback).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from structlog.typing import FilteringBoundLogger

from glue.model_registry.schemas import DesiredState
from glue.serving_agent.metrics import AgentMetrics
from glue.triton.config import ModelConfig, config_to_json
from glue.triton.repository import (
    RepositoryEntry,
    TritonError,
    TritonRepository,
    TritonUnavailable,
)


class Swapper:
    """Loads and unloads model versions in one tritonserver, confirming each in its index.

    Args:
        triton: the server's repository API client.
        metrics: the agent's metrics (``served_version`` is set to 0 for unloaded models).
        log: logger bound to the agent's service and pod.
        ready_timeout: seconds a load may take until the version is READY; also how long an
            old version may take to leave.
    """

    def __init__(
        self,
        triton: TritonRepository,
        metrics: AgentMetrics,
        log: FilteringBoundLogger,
        *,
        ready_timeout: float,
    ) -> None:
        self.triton = triton
        self.metrics = metrics
        self.ready_timeout = ready_timeout
        self._log = log

    def swap(
        self,
        model: str,
        number: int,
        old: list[int],
        config: ModelConfig,
        log: FilteringBoundLogger,
    ) -> None:
        """Serve ``number`` instead of ``old`` without a moment with nothing READY.

        One load of ``[number]``: Triton keeps ``old`` serving until ``number`` is loaded and
        keeps it when the load fails; the index then confirms the switch. An old version still
        READY after ``ready_timeout`` is logged (``old_version_still_ready``), not raised.

        Raises ``TritonLoadError`` (refused, or not READY in time), ``TritonUnavailable``,
        ``TritonError``, ``ValueError``.
        """
        self._load_exactly(model, config, [number], log)
        if old and not self.triton.wait_not_ready(model, old, self.ready_timeout):
            log.warning("old_version_still_ready", previous=old)

    def finish_swap(
        self,
        model: str,
        number: int,
        others: Iterable[int],
        config: ModelConfig,
        log: FilteringBoundLogger,
    ) -> None:
        """Finish a swap that was interrupted with ``others`` still loaded beside ``number``.

        Loads exactly ``[number]`` again and waits up to ``ready_timeout`` for ``others`` to go.
        Raises like ``swap``.
        """
        self._load_exactly(model, config, [number], log)
        self.triton.wait_not_ready(model, others, self.ready_timeout)

    def _load_exactly(
        self, model: str, config: ModelConfig, versions: list[int], log: FilteringBoundLogger
    ) -> None:
        log.info("load", versions=versions)
        self.triton.load(model, config_to_json(config, versions=versions))
        self.triton.wait_ready(model, versions, self.ready_timeout)

    def settled_index(self, model: str, keep: int, *, poll: float = 0.05) -> list[RepositoryEntry]:
        """The index once no version of ``model`` other than ``keep`` is LOADING or UNLOADING.

        A version unloaded by the last swap stays UNLOADING for a moment (the python backend's
        stub process exits); its files may go only afterwards. Gives up waiting after
        ``ready_timeout`` and returns the latest index. Raises ``TritonUnavailable``,
        ``TritonError``.
        """
        deadline = time.monotonic() + self.ready_timeout
        while True:
            index = self.triton.index()
            moving = [
                e
                for e in index
                if e.name == model and e.version != keep and e.state in ("LOADING", "UNLOADING")
            ]
            if not moving or time.monotonic() >= deadline:
                return index
            time.sleep(poll)

    def unload_undesired(self, desired: DesiredState, index: list[RepositoryEntry]) -> None:
        """Unload every model READY or LOADING in ``index`` that ``desired`` does not name.

        Models named by ``desired.unresolved`` are kept. A refused unload is logged
        (``unload_failed``) and skipped; raises ``TritonUnavailable``.
        """
        keep = {d.model for d in desired.models} | set(desired.unresolved)
        loaded = {e.name for e in index if e.state in ("READY", "LOADING") and e.name not in keep}
        for model in sorted(loaded):
            log = self._log.bind(model=model)
            try:
                self.triton.unload(model)
            except TritonUnavailable:
                raise
            except TritonError as exc:
                log.error("unload_failed", error=str(exc))
                continue
            self.metrics.served_version.labels(model=model).set(0)
            log.info("model_unloaded")
