"""Fixtures of the serving agent's tests (the real-server world lives in ``support``)."""

from __future__ import annotations

import pytest

from tests.glue.serving_agent.support import PATIENCE, env

__all__ = ["env", "patient_agent_processes"]


@pytest.fixture(autouse=True)
def patient_agent_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Agent processes a test starts (``python -m glue.serving_agent`` with our environment)
    wait ``PATIENCE`` s per registry request, like ``Env.agent``: on a loaded machine answers
    took over the 5 s default, which failed the tests with ``RegistryUnavailable``."""
    monkeypatch.setenv("KUBEAI_AGENT_REGISTRY_TIMEOUT", str(PATIENCE))
