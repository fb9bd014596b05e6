"""ArtifactSettings: environment parsing with nested ``__`` keys and validation by key path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from glue.artifacts.settings import (
    ArtifactSettings,
    GcsSettings,
    OssSettings,
    S3Settings,
    env_var,
    nested_env_prefix,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KUBEAI_ARTIFACTS_* variable of the surrounding shell leaks into these tests."""
    for key in list(os.environ):
        if key.startswith("KUBEAI_ARTIFACTS_"):
            monkeypatch.delenv(key)


def _locs(exc: ValidationError) -> list[tuple[int | str, ...]]:
    return [tuple(error["loc"]) for error in exc.errors()]


def test_defaults_fail_fast_on_unreachable_endpoints() -> None:
    settings = ArtifactSettings()
    assert settings.local_root == Path(".kubeai/artifacts")
    assert settings.allowed_schemes == {"file", "s3", "gs", "oss"}
    assert settings.s3.endpoint_url is None
    assert settings.oss.addressing_style == "virtual"
    assert settings.s3.addressing_style == "auto"
    # worst case without backoff: every attempt waits for its connect timeout
    for group in (settings.s3, settings.oss):
        assert group.connect_timeout * group.max_attempts <= 5


def test_reads_nested_values_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "KUBEAI_ARTIFACTS_LOCAL_ROOT": str(tmp_path),
        "KUBEAI_ARTIFACTS_ALLOWED_SCHEMES": '["file", "oss"]',
        "KUBEAI_ARTIFACTS_S3__ENDPOINT_URL": "http://minio.storage:9000/",
        "KUBEAI_ARTIFACTS_S3__ADDRESSING_STYLE": "path",
        "KUBEAI_ARTIFACTS_S3__REGION": "eu-west-1",
        "KUBEAI_ARTIFACTS_S3__MAX_ATTEMPTS": "4",
        "KUBEAI_ARTIFACTS_OSS__ENDPOINT_URL": "https://s3.oss-cn-hangzhou.aliyuncs.com",
        "KUBEAI_ARTIFACTS_OSS__REGION": "cn-hangzhou",
        "KUBEAI_ARTIFACTS_OSS__ACCESS_KEY_ID": "LTAI-example",
        "KUBEAI_ARTIFACTS_OSS__SECRET_ACCESS_KEY": "very-secret",
        "KUBEAI_ARTIFACTS_GCS__TOKEN": "anon",
        "KUBEAI_ARTIFACTS_GCS__PROJECT": "kubeai-test",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = ArtifactSettings()
    assert settings.local_root == tmp_path
    assert settings.allowed_schemes == {"file", "oss"}
    assert settings.s3.endpoint_url == "http://minio.storage:9000"  # trailing slash dropped
    assert settings.s3.addressing_style == "path"
    assert settings.s3.region == "eu-west-1"
    assert settings.s3.max_attempts == 4
    assert settings.oss.endpoint_url == "https://s3.oss-cn-hangzhou.aliyuncs.com"
    assert settings.oss.access_key_id is not None
    assert settings.oss.access_key_id.get_secret_value() == "LTAI-example"
    assert settings.oss.secret_access_key is not None
    assert settings.oss.secret_access_key.get_secret_value() == "very-secret"
    assert "very-secret" not in repr(settings)
    assert settings.gcs.token == "anon"
    assert settings.gcs.project == "kubeai-test"


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://minio:9000",
        "minio:9000",
        "http://",
        "http://minio:9000/bucket",
        "http://minio:9000?x=1",
        "http://user:pw@minio:9000",
        "http://minio:99999",
    ],
)
def test_endpoint_must_be_a_bare_http_url(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    monkeypatch.setenv("KUBEAI_ARTIFACTS_S3__ENDPOINT_URL", endpoint)
    with pytest.raises(ValidationError) as info:
        ArtifactSettings()
    assert _locs(info.value) == [("s3", "endpoint_url")]
    assert "endpoint_url" in str(info.value)


def test_oss_endpoint_error_names_the_oss_key() -> None:
    with pytest.raises(ValidationError) as info:
        ArtifactSettings(oss={"endpoint_url": "oss-cn-hangzhou.aliyuncs.com"})
    assert _locs(info.value) == [("oss", "endpoint_url")]
    assert OssSettings(endpoint_url="https://s3.oss-cn-hangzhou.aliyuncs.com").endpoint_url


def test_env_errors_name_the_nested_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEAI_ARTIFACTS_OSS__ENDPOINT_URL", "oss-cn-hangzhou.aliyuncs.com")
    monkeypatch.setenv("KUBEAI_ARTIFACTS_S3__CONNECT_TIMEOUT", "0")
    with pytest.raises(ValidationError) as info:
        ArtifactSettings()
    assert sorted(_locs(info.value)) == [("oss", "endpoint_url"), ("s3", "connect_timeout")]


def test_keys_must_come_in_pairs() -> None:
    with pytest.raises(ValidationError, match="set together"):
        S3Settings(access_key_id="only-the-id")


def test_unknown_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEAI_ARTIFACTS_S3__ENDPOINT", "http://typo:9000")
    with pytest.raises(ValidationError) as info:
        ArtifactSettings()
    assert _locs(info.value) == [("s3", "endpoint")]


@pytest.mark.parametrize("schemes", ['["http"]', "[]"])
def test_allowed_schemes_are_checked(monkeypatch: pytest.MonkeyPatch, schemes: str) -> None:
    monkeypatch.setenv("KUBEAI_ARTIFACTS_ALLOWED_SCHEMES", schemes)
    with pytest.raises(ValidationError) as info:
        ArtifactSettings()
    assert all(loc[0] == "allowed_schemes" for loc in _locs(info.value))


def test_region_and_addressing_style_are_checked() -> None:
    with pytest.raises(ValidationError) as info:
        S3Settings(region="US East 1", addressing_style="sideways")
    assert sorted(_locs(info.value)) == [("addressing_style",), ("region",)]


def test_local_root_must_be_a_path_not_a_uri() -> None:
    with pytest.raises(ValidationError) as info:
        ArtifactSettings(local_root=Path("s3://bucket/root"))
    assert _locs(info.value) == [("local_root",)]


def test_gcs_token_accepts_keywords_and_paths(tmp_path: Path) -> None:
    assert GcsSettings(token="google_default").token == "google_default"
    key_file = tmp_path / "sa.json"
    assert GcsSettings(token=key_file).token == key_file
    with pytest.raises(ValidationError) as info:
        GcsSettings(token="gs://bucket/key.json")
    assert _locs(info.value)[0][0] == "token"


def test_oss_sts_endpoint_is_a_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """``oss.sts_endpoint`` (RRSA's STS) is host[:port] only; S3 has no such key."""
    monkeypatch.setenv("KUBEAI_ARTIFACTS_OSS__STS_ENDPOINT", "sts-vpc.cn-hangzhou.aliyuncs.com")
    assert ArtifactSettings().oss.sts_endpoint == "sts-vpc.cn-hangzhou.aliyuncs.com"
    assert OssSettings().sts_endpoint is None
    assert OssSettings(sts_endpoint="127.0.0.1:8443").sts_endpoint == "127.0.0.1:8443"
    for bad in ("https://sts.aliyuncs.com", "sts.aliyuncs.com/path", "", "sts .aliyuncs.com"):
        monkeypatch.setenv("KUBEAI_ARTIFACTS_OSS__STS_ENDPOINT", bad)
        with pytest.raises(ValidationError) as caught:
            ArtifactSettings()
        assert _locs(caught.value) == [("oss", "sts_endpoint")]
        assert "host[:port]" in str(caught.value)
    with pytest.raises(ValidationError):
        S3Settings(sts_endpoint="sts.aliyuncs.com")  # type: ignore[call-arg]


def test_env_var_names_the_variable_an_operator_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """``env_var`` gives exactly the variable the settings read: setting it changes the key."""
    assert env_var("oss.endpoint_url") == "KUBEAI_ARTIFACTS_OSS__ENDPOINT_URL"
    assert env_var("local_root") == "KUBEAI_ARTIFACTS_LOCAL_ROOT"
    monkeypatch.setenv(env_var("oss.endpoint_url"), "http://127.0.0.1:9000")
    assert ArtifactSettings().oss.endpoint_url == "http://127.0.0.1:9000"


def test_nested_env_prefix_follows_the_parent_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside another settings class the variables carry that class's prefix and field name."""

    class Parent(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="KUBEAI_X_", env_nested_delimiter="__")
        artifacts: ArtifactSettings = ArtifactSettings()

    prefix = nested_env_prefix(Parent, "artifacts")
    assert prefix == "KUBEAI_X_ARTIFACTS__"
    variable = env_var("s3.region", prefix=prefix)
    assert variable == "KUBEAI_X_ARTIFACTS__S3__REGION"
    monkeypatch.setenv(variable, "eu-west-1")
    assert Parent().artifacts.s3.region == "eu-west-1"
