"""Fixtures of the registry's service tests: one database on both backends, two instances."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glue.model_registry.app import create_app
from glue.model_registry.db import Database
from tests.glue.model_registry.conftest import Env


@pytest.fixture(params=["sqlite", "postgresql"])
def two_registries(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Env, Database, Database]]:
    """An ``Env`` (model ``digits`` created) plus two ``Database`` instances on its database."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    env = Env(tmp_path)
    if url is not None:
        env.settings = env.settings.model_copy(update={"database_url": url})
        env.client = TestClient(create_app(env.settings), raise_server_exceptions=False)
    with env.client:
        env.create_model()
        first, second = Database(env.settings.database_url), Database(env.settings.database_url)
        yield env, first, second
        first.dispose()
        second.dispose()
