"""infra/__main__.py: runtime config decoding, secrets, ConfigError as a clean RunError."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra import __main__ as entry
from infra.config import ConfigError, PlatformConfig, TeamConfig
from infra.config.loading import DEFAULT_PROVIDERS, DISABLE_DEFAULTS_KEY
from infra.mocks import RecordingMocks, start
from tests.infra import factories


def runtime_values(values: dict) -> dict[str, str]:
    """Stack-file values as the Pulumi runtime passes them: objects and lists as JSON (with
    the default providers disabled, as every stack file does)."""
    out = {
        f"kubeai:{k}": json.dumps(v) if isinstance(v, dict | list) else str(v)
        for k, v in values.items()
    }
    out[DISABLE_DEFAULTS_KEY] = json.dumps(list(DEFAULT_PROVIDERS))
    return out


def with_mocks(fn):
    start(RecordingMocks(), stack="t")
    result = {}

    def body():
        result["value"] = fn()

    pulumi.runtime.test(body)()
    return result["value"]


def test_decode() -> None:
    assert entry.decode('{"a": 1}') == {"a": 1}
    assert entry.decode("[1, 2]") == [1, 2]
    assert entry.decode("0.1.0") == "0.1.0"
    assert entry.decode("{not json") == "{not json"


def test_load_platform_config_from_runtime_values() -> None:
    values = runtime_values(factories.platform_values("eks"))
    values["aws:region"] = "us-east-1"  # other namespaces are left to their providers
    config, secrets = entry.load(values, set())
    assert isinstance(config, PlatformConfig)
    assert config.node_pools[0].gpus_per_node == 2
    assert secrets == {}


def test_load_reads_known_secrets_as_pulumi_secrets() -> None:
    def body():
        values = runtime_values(factories.team_values())
        values["kubeai:nvcrApiKey"] = "ngc-key"
        pulumi.runtime.set_all_config(values, ["kubeai:nvcrApiKey"])
        config, secrets = entry.load(values, {"kubeai:nvcrApiKey"})
        assert isinstance(config, TeamConfig)
        assert set(secrets) == {"nvcrApiKey"}
        return secrets["nvcrApiKey"]

    secret = with_mocks(body)
    assert isinstance(secret, pulumi.Output)


def test_a_known_secret_given_in_plain_text_is_refused() -> None:
    values = runtime_values(factories.team_values())
    values["kubeai:nvcrApiKey"] = "ngc-key"
    with pytest.raises(ConfigError, match="pulumi config set --secret kubeai:nvcrApiKey"):
        entry.load(values, set())


def main_error(values: dict[str, str]) -> str:
    """The ``pulumi.RunError`` message ``main`` fails with for runtime config ``values``."""

    def body():
        pulumi.runtime.set_all_config(values, [])
        with pytest.raises(pulumi.RunError) as caught:
            entry.main()
        return str(caught.value)

    return with_mocks(body)


def test_main_turns_config_errors_into_a_clean_run_error() -> None:
    message = main_error(runtime_values(factories.team_values(quota={"gpuQouta": 2})))
    assert "kubeai:quota.gpuQouta" in message and "did you mean 'gpus'" in message


def test_main_runs_the_program_with_stack_secrets() -> None:
    values = runtime_values(
        factories.platform_values("eks", glue={"database": "postgresql", "replicas": 2})
    )
    values["kubeai:postgresDsn"] = "postgresql+psycopg://u:p@db/kubeai"
    mocks = RecordingMocks()
    start(mocks, stack="t")

    def body():
        pulumi.runtime.set_all_config(values, ["kubeai:postgresDsn"])
        entry.main()

    pulumi.runtime.test(body)()
    names = {name for _, name in mocks.resources}
    assert {"glue-release", "glue-database", "volcano-release"} <= names


@pytest.mark.parametrize(
    ("provider", "pool", "path"),
    [
        ("eks", {"maxSize": 0}, "kubeai:nodePools[0].maxSize"),
        ("gke", {"gpuType": "tesla-l4"}, "kubeai:nodePools[0].gpuType"),
    ],
)
def test_pool_settings_a_provider_cannot_provision_fail_as_config_errors(
    provider: str, pool: dict, path: str
) -> None:
    raw = factories.platform_values(provider)
    raw["nodePools"][0].update(pool)
    message = main_error(runtime_values(raw))
    assert path in message and "Traceback" not in message


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (None, "kubernetes, aws, gcp, alicloud"),
        ('["kubernetes"]', "aws, gcp, alicloud"),
    ],
)
def test_a_stack_that_leaves_default_providers_enabled_is_refused(
    given: str | None, missing: str
) -> None:
    values = runtime_values(factories.team_values())
    values.pop(DISABLE_DEFAULTS_KEY)
    if given is not None:
        values[DISABLE_DEFAULTS_KEY] = given
    message = main_error(values)
    assert f"{DISABLE_DEFAULTS_KEY}: must disable the default providers of {missing}" in message
    assert "Traceback" not in message


@pytest.mark.parametrize("given", ["kubernetes", "*"])
def test_a_bare_string_for_the_default_providers_is_refused(given: str) -> None:
    """The runtime passes the stack file's value as text: a list arrives as JSON, a bare
    string as itself, which the engine would not read as a list."""
    values = runtime_values(factories.team_values())
    values[DISABLE_DEFAULTS_KEY] = given
    message = main_error(values)
    assert f"{DISABLE_DEFAULTS_KEY}: must be a list of packages, got {given!r}" in message
    assert "Traceback" not in message


def test_star_disables_every_default_provider() -> None:
    values = runtime_values(factories.team_values())
    values[DISABLE_DEFAULTS_KEY] = '["*"]'
    config, _ = with_mocks(lambda: entry.load(values, set()))
    assert isinstance(config, TeamConfig)
