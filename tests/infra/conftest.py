"""Fixtures of the infra tests: program runs under Pulumi mocks, cached per configuration.

A ``ProgramRun`` is read-only once returned, so runs of the same configuration are shared across
tests (each costs ~0.2-0.5 s); ``record_stack`` resets the process-global mocks every time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.mocks import ProgramRun, record_stack
from tests.infra import factories

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"


@pytest.fixture(scope="session")
def platform_run() -> Callable[..., ProgramRun]:
    """``platform_run(provider="eks", secrets=None, **overrides)`` -> cached ``ProgramRun``."""
    cache: dict[str, ProgramRun] = {}

    def get(
        provider: str = "eks", secrets: dict[str, str] | None = None, **overrides: Any
    ) -> ProgramRun:
        key = json.dumps([provider, secrets, overrides], sort_keys=True)
        if key not in cache:
            config = factories.platform_config(provider, **overrides)
            cache[key] = record_stack(config, secrets=secrets)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def team_run() -> Callable[..., ProgramRun]:
    """``team_run(provider="eks", secrets=None, **overrides)`` -> cached offline team run
    (platform outputs of ``platform_config(provider)`` passed as ``platform=``)."""
    cache: dict[str, ProgramRun] = {}

    def get(
        provider: str = "eks", secrets: dict[str, str] | None = None, **overrides: Any
    ) -> ProgramRun:
        key = json.dumps([provider, secrets, overrides], sort_keys=True)
        if key not in cache:
            platform = factories.outputs_of(factories.platform_config(provider))
            config = factories.team_config(**overrides)
            cache[key] = record_stack(config, secrets=secrets, platform=platform)
        return cache[key]

    return get
