"""Property-based API fuzzing with schemathesis, generated from the registry's own OpenAPI
document, against the real app over a real SQLite file: whatever the input, the registry never
answers 5xx, and every error is problem+json."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from glue.model_registry.app import create_app
from glue.model_registry.db import Database
from tests.support.registry import registry_settings

_TMP = Path(tempfile.mkdtemp(prefix="kubeai-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)
(_TMP / "artifacts").mkdir()
_APP = create_app(registry_settings(_TMP))
Database(_APP.state.settings.database_url).migrate()

schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_problem_json(case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json")
