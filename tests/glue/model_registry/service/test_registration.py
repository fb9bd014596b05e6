"""register_version as a service call (no HTTP): outcomes, idempotency and what it refuses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from glue.artifacts.errors import StorageUnavailable
from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.auth.principal import LOCAL
from glue.model_registry.db import Database
from glue.model_registry.errors import Invalid, NotFound, Unavailable
from glue.model_registry.service import registration
from glue.model_registry.service.registration import Outcome, register_version
from tests.glue.model_registry.conftest import CONFIG, Env


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


# ---------------------------------------------------------------------------------------------
# A version that can never be served is refused (issue 10, section 3), each with the field named.

API = "/api/v1/teams/cv/models/digits/versions"
ENV_PARAMETER = 'parameters {{ key: "EXECUTION_ENV_PATH" value: {{ string_value: "{}" }} }}\n'


def _upload(env: Env, tag: str, files: dict[str, bytes | str]) -> dict[str, Any]:
    """Upload a directory of ``files`` (relative path -> content); artifact_uri and manifest."""
    src = env.tmp / "src" / tag
    for rel, content in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
    uri = env.store.local_uri("models", "digits", tag)
    manifest = env.store.upload_dir(src, uri)
    return {"artifact_uri": uri, "manifest": manifest.model_dump(mode="json")}


def _body(env: Env, tag: str, files: dict[str, bytes | str] | None = None) -> dict[str, Any]:
    """A registration body for ``files`` (default: the valid digits model) uploaded as ``tag``."""
    body = env.version_body("digits", tag)
    if files is not None:
        body.update(_upload(env, tag + "-custom", files))
    return body


def _files(config_extra: str = "", more: dict[str, bytes] | None = None) -> dict[str, bytes | str]:
    """A valid python-backend artifact's files plus ``more`` (relative path -> content)."""
    files: dict[str, bytes | str] = {
        "config.pbtxt": CONFIG.format(name="digits") + config_extra,
        "1/model.py": "# model\n",
    }
    files.update(more or {})
    return files


def _refused(env: Env, body: dict[str, Any]) -> tuple[str, str]:
    """POST ``body``; assert 422 as problem+json and nothing registered; (field, detail)."""
    r = env.client.post(API, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert env.client.get("/api/v1/teams/cv/models/digits").json()["latest_version"] == 0
    return problem["errors"][0]["field"], problem["detail"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        *[("size", size) for size in (True, "1", 1 << 53, 1 << 63, -1, None)],
        *[("sha256", sha) for sha in ("A" * 64, "a" * 63, "g" * 64, 7, "")],
    ],
)
def test_manifest_sizes_and_sha256_are_strictly_typed(env: Env, key: str, value: Any) -> None:
    """Sizes are JSON integers 0..2**53-1 (never booleans or strings); sha256 is 64 hex."""
    env.create_model()
    body = _body(env, "uid-typed")
    body["manifest"]["files"]["1/model.py"][key] = value
    field, _ = _refused(env, body)
    assert field == f"body.manifest.files.1/model.py.{key}"


@pytest.mark.parametrize("size", [0, 1, (1 << 53) - 1])
def test_manifest_size_must_equal_the_stored_file(env: Env, size: int) -> None:
    env.create_model()
    body = _body(env, "uid-size")
    assert body["manifest"]["files"]["1/model.py"]["size"] > 1
    body["manifest"]["files"]["1/model.py"]["size"] = size
    field, detail = _refused(env, body)
    assert field == "body.manifest.files.1/model.py"
    assert f"the manifest says {size}" in detail


def test_empty_files_are_valid_with_size_zero(env: Env) -> None:
    env.create_model()
    body = _body(env, "uid-empty", _files(more={"1/pkg/__init__.py": b""}))
    assert body["manifest"]["files"]["1/pkg/__init__.py"]["size"] == 0
    assert env.client.post(API, json=body).status_code == 201


@pytest.mark.parametrize("path", ["config.pbtxt", "1/model.py"])
def test_sha256_must_match_the_stored_file(env: Env, path: str) -> None:
    env.create_model()
    body = _body(env, "uid-sha")
    body["manifest"]["files"][path]["sha256"] = "0" * 64
    field, detail = _refused(env, body)
    assert field == f"body.manifest.files.{path}"
    assert "does not match" in detail


def test_large_artifacts_are_checked_by_listing_and_size_not_content(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the full-hash line only config.pbtxt is hashed; the agent checks the rest."""
    monkeypatch.setattr(registration, "FULL_HASH_MAX_BYTES", 16)
    env.create_model()
    body = _body(env, "uid-large")
    body["manifest"]["files"]["1/model.py"]["sha256"] = "0" * 64
    assert env.client.post(API, json=body).status_code == 201
    body = _body(env, "uid-large-config")
    body["manifest"]["files"]["config.pbtxt"]["sha256"] = "0" * 64
    r = env.client.post(API, json=body)  # refused (latest_version stays 1)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == (
        "body.manifest.files.config.pbtxt"
    )


def test_listed_file_missing_from_the_artifact_is_refused(env: Env) -> None:
    env.create_model()
    body = _body(env, "uid-missing")
    body["manifest"]["files"]["1/weights.bin"] = body["manifest"]["files"]["1/model.py"]
    field, detail = _refused(env, body)
    assert field == "body.manifest.files.1/weights.bin"
    assert "missing" in detail


def test_stored_file_missing_from_the_manifest_is_refused(env: Env) -> None:
    env.create_model()
    body = _body(env, "uid-extra", _files(more={"1/weights.bin": b"\x00" * 8}))
    del body["manifest"]["files"]["1/weights.bin"]
    field, detail = _refused(env, body)
    assert field == "body.manifest.files.1/weights.bin"
    assert "not in the manifest" in detail


def test_nothing_uploaded_is_refused(env: Env) -> None:
    env.create_model()
    body = _body(env, "uid-none")
    body["artifact_uri"] = env.store.local_uri("models", "digits", "never-uploaded")
    field, detail = _refused(env, body)
    assert field == "body.artifact_uri"
    assert "upload the artifact" in detail


def test_python_model_without_model_py_is_refused(env: Env) -> None:
    env.create_model()
    files = _files(more={"1/net.py": b"# not model.py\n"})
    del files["1/model.py"]
    field, detail = _refused(env, _body(env, "uid-nomodel", files))
    assert field == "body.manifest.files"
    assert "1/model.py" in detail


def test_config_without_backend_or_platform_is_refused(env: Env) -> None:
    env.create_model()
    files = _files()
    files["config.pbtxt"] = CONFIG.format(name="digits").replace('backend: "python"\n', "")
    field, detail = _refused(env, _body(env, "uid-nobackend", files))
    assert field == "body.artifact_uri"
    assert "config.pbtxt:backend" in detail


@pytest.mark.parametrize(
    ("env_path", "archive"),
    [
        ("$$TRITON_MODEL_DIRECTORY/python-env.tar.gz", "python-env.tar.gz"),  # the case
        ("$$TRITON_MODEL_DIRECTORY/1/python-env.tar.gz", "1/python-env.tar.gz"),  # renumbered
        ("python-env.tar.gz", "python-env.tar.gz"),  # relative to tritonserver's cwd
    ],
)
def test_execution_env_outside_what_the_agent_installs_is_refused(
    env: Env, env_path: str, archive: str
) -> None:
    env.create_model()
    files = _files(ENV_PARAMETER.format(env_path), {archive: b"tar"})
    field, detail = _refused(env, _body(env, "uid-env", files))
    assert field == "body.artifact_uri"
    assert "config.pbtxt:parameters[EXECUTION_ENV_PATH]" in detail


def test_execution_env_from_the_serving_image_is_accepted(env: Env) -> None:
    env.create_model()
    files = _files(ENV_PARAMETER.format("/opt/conda-envs/digits.tar.gz"))
    assert env.client.post(API, json=_body(env, "uid-env", files)).status_code == 201


def test_every_check_applies_before_any_version_number_is_taken(env: Env) -> None:
    env.create_model()
    outcomes: list[Outcome] = []
    body = _body(env, "uid-bad")
    body["manifest"]["files"]["1/model.py"]["sha256"] = "0" * 64
    with pytest.raises(Invalid):
        _register(env, body, outcomes)
    created, _ = _register(env, env.version_body("digits", "uid-good"), outcomes)
    assert created.version == 1
    assert outcomes == ["refused", "created"]


def test_config_that_is_not_utf8_is_refused(env: Env) -> None:
    env.create_model()
    files = _files()
    files["config.pbtxt"] = b"\xff\xfe"
    field, detail = _refused(env, _body(env, "uid-utf8", files))
    assert field == "body.artifact_uri"
    assert "UTF-8" in detail


# ---------------------------------------------------------------------------------------------
# Numbering on both backends, across two registry instances (own pools, own writer locks) on one
# database; nothing half-written when a registration fails.


def _register_on(db: Database, env: Env, body: dict[str, Any]) -> tuple[schemas.VersionRead, bool]:
    return register_version(
        db=db,
        store=env.store,
        team="cv",
        model_name="digits",
        principal=LOCAL,
        body=schemas.VersionCreate.model_validate(body),
        verify_config=True,
    )


def _counter_versions_audits(db: Database) -> tuple[int, list[int], list[str]]:
    with db.reading() as session:
        model = session.scalars(select(orm.Model).where(orm.Model.name == "digits")).one()
        numbers = sorted(session.scalars(select(orm.ModelVersion.version)))
        audits = session.scalars(
            select(orm.AuditEvent.resource)
            .where(orm.AuditEvent.action == "version.register")
            .order_by(orm.AuditEvent.id)
        ).all()
        return model.latest_version, numbers, list(audits)


def test_two_instances_number_concurrent_registrations_1_to_n(
    two_registries: tuple[Env, Database, Database],
) -> None:
    env, first, second = two_registries
    artifact = env.upload_model("digits", "shared")
    bodies = [{**env.version_body("digits", f"uid-{i}"), **artifact} for i in range(24)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(
            pool.map(
                lambda i: _register_on(first if i % 2 else second, env, bodies[i]),
                range(len(bodies)),
            )
        )
    assert all(created for _, created in results)
    assert sorted(v.version for v, _ in results) == list(range(1, 25))
    counter, numbers, audits = _counter_versions_audits(first)
    assert (counter, numbers) == (24, list(range(1, 25)))
    assert sorted(audits) == sorted(f"models/digits/versions/{n}" for n in range(1, 25))


def test_two_instances_register_one_source_uid_once(
    two_registries: tuple[Env, Database, Database],
) -> None:
    env, first, second = two_registries
    body = env.version_body("digits", "same-uid")
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(
            pool.map(lambda i: _register_on(first if i % 2 else second, env, body), range(12))
        )
    assert {v.version for v, _ in results} == {1}
    assert sum(created for _, created in results) == 1
    assert _counter_versions_audits(first) == (1, [1], ["models/digits/versions/1"])


def test_lost_race_on_the_source_uid_uses_no_number(
    two_registries: tuple[Env, Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other instance registers the same uid while this one checks the artifact: this one's
    write fails on the unique source uid and answers the winner's version; the counter, the
    versions and the audit log hold the winner's registration only, and the next number is 2."""
    env, first, second = two_registries
    body = env.version_body("digits", "raced")
    check = registration.check_stored_artifact

    def racing_check(**kwargs: Any) -> None:
        check(**kwargs)
        monkeypatch.setattr(registration, "check_stored_artifact", check)
        assert _register_on(second, env, body)[1] is True

    monkeypatch.setattr(registration, "check_stored_artifact", racing_check)
    version, created = _register_on(first, env, body)
    assert (version.version, created) == (1, False)
    assert _counter_versions_audits(first) == (1, [1], ["models/digits/versions/1"])
    assert _register_on(first, env, env.version_body("digits", "next"))[0].version == 2


def test_storage_outage_writes_nothing(
    two_registries: tuple[Env, Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, first, _ = two_registries

    def down(*_args: Any, **_kwargs: Any) -> bytes:
        raise StorageUnavailable("connection refused")

    monkeypatch.setattr(env.store, "read_bytes", down)
    with pytest.raises(Unavailable):
        _register_on(first, env, env.version_body("digits", "uid-1"))
    assert _counter_versions_audits(first) == (0, [], [])
    monkeypatch.undo()
    assert _register_on(first, env, env.version_body("digits", "uid-2"))[0].version == 1
