"""Property-based API fuzzing with schemathesis, generated from the registry's own OpenAPI
document, against the real app over a real SQLite file.

``test_no_server_errors_and_problem_json``: whatever the input, the registry never answers 5xx,
and every error is problem+json.

``test_all_checks_conform``: the ``schemathesis run`` command with ``--checks all`` (every phase:
examples, coverage, fuzzing, stateful) against a registry served by uvicorn on loopback, with
authentication on (a static admin token is sent; schemathesis' own checks send none and a wrong
one and expect 401), over
SQLite and over a real PostgreSQL (where a NUL byte in text was a 500), with a
bounded number of examples per operation and a fixed seed (``KUBEAI_FUZZ_SEED`` overrides it,
``KUBEAI_FUZZ_EXAMPLES`` the number of examples), must report 0 failures. Every check is on.
One check is configured, not excluded: ``positive_data_acceptance`` expects a schema-valid
request to be accepted, but a few rules depend on stored state (the artifact in the store, a
version an assignment names) or compare two values of one request (``canary_version`` differs
from ``version``; each model version once in a pod report), which JSON Schema cannot state. The
document names the cross-field rules (``x-kubeai-rules``), and ``fuzz_hooks.UNSTATABLE`` lists
per operation the fields whose 422 is accepted; any other refusal of valid data fails the run.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from glue.model_registry.app import create_app
from glue.model_registry.auth.settings import AuthSettings, Subjects
from glue.model_registry.db import Database
from tests.support.registry import RegistryServer, registry_settings

_TMP = Path(tempfile.mkdtemp(prefix="kubeai-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)
(_TMP / "artifacts").mkdir()
_APP = create_app(registry_settings(_TMP))
Database(_APP.state.settings.database_url).migrate()

schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)

ROOT = Path(__file__).resolve().parents[3]
#: Examples per operation and phase: about 2,000 cases, 20-30 s on a quiet machine.
EXAMPLES = int(os.environ.get("KUBEAI_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("KUBEAI_FUZZ_SEED", "20261130")
#: The platform admin's static token the authenticated run sends.
ADMIN_TOKEN = "fuzz-admin-".ljust(48, "0")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_problem_json(case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_all_checks_conform(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    (tmp_path / "artifacts").mkdir()
    database_url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f"{ADMIN_TOKEN},fuzzer,fuzzer-uid\n")
    settings = registry_settings(tmp_path, database_url).model_copy(
        update={"auth": AuthSettings(static_tokens_file=tokens, admins=Subjects(users=["fuzzer"]))}
    )
    server = RegistryServer(settings).start()
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                SEED,
                "--workers",
                "1",
                "--continue-on-failure",
                "--no-color",
                "--header",
                f"Authorization: Bearer {ADMIN_TOKEN}",
            ],
            cwd=tmp_path,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "SCHEMATHESIS_HOOKS": "tests.glue.model_registry.fuzz_hooks",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.stop()
    output = run.stdout + run.stderr
    summary = output[output.rfind("SUMMARY") :]
    assert run.returncode == 0, output[-20000:]
    operations = re.search(r"Selected: (\d+)/\d+\s+Tested: (\d+)", summary)
    assert operations and operations.group(1) == operations.group(2), summary
    cases = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert cases and cases.group(1) == cases.group(2), summary
    assert int(cases.group(1)) >= 1000, summary
