"""register_version as a service call (no HTTP): outcomes, idempotency and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from glue.model_registry import schemas
from glue.model_registry.auth.principal import LOCAL
from glue.model_registry.errors import Invalid, NotFound
from glue.model_registry.service.registration import Outcome, register_version
from tests.glue.model_registry.conftest import Env


def _register(
    env: Env, body: dict[str, Any], outcomes: list[Outcome], model: str = "digits"
) -> tuple[schemas.VersionRead, bool]:
    return register_version(
        db=env.client.app.state.db,
        store=env.store,
        team="cv",
        model_name=model,
        principal=LOCAL,
        body=schemas.VersionCreate.model_validate(body),
        verify_config=True,
        on_outcome=outcomes.append,
    )


def test_same_source_uid_returns_the_existing_version(env: Env) -> None:
    env.create_model()
    outcomes: list[Outcome] = []
    body = env.version_body("digits", "uid-1")
    first, created = _register(env, body, outcomes)
    assert (first.version, created, first.aliases) == (1, True, [])
    again, created_again = _register(env, body, outcomes)
    assert (again.version, created_again) == (1, False)
    second, _ = _register(env, env.version_body("digits", "uid-2"), outcomes)
    assert second.version == 2
    assert outcomes == ["created", "existing", "created"]


def test_bad_uri_and_config_are_refused_naming_the_field(env: Env) -> None:
    env.create_model()
    outcomes: list[Outcome] = []
    body = env.version_body("digits", "uid-1")
    with pytest.raises(Invalid) as bad_uri:
        _register(env, {**body, "artifact_uri": "ftp://x/y"}, outcomes)
    assert bad_uri.value.field == "body.artifact_uri"
    wrong = env.version_body("digits", "uid-2")
    other = [{"name": "OTHER", "datatype": "FP32", "dims": [-1, 64]}]
    wrong["signature"] = {**wrong["signature"], "inputs": other}
    with pytest.raises(Invalid) as bad_signature:
        _register(env, wrong, outcomes)
    assert bad_signature.value.field == "body.signature"
    assert outcomes == ["refused", "refused"]


def test_unknown_model_is_not_found_and_not_counted(env: Env) -> None:
    outcomes: list[Outcome] = []
    with pytest.raises(NotFound) as err:
        _register(env, env.version_body("digits", "uid-1"), outcomes, model="digits")
    assert err.value.field == "path.model"
    assert outcomes == []
