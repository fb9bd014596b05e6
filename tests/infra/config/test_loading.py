"""infra/config/loading.py: every example stack parses; bad config gives key paths and
suggestions; secrets are never plain config."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.config import (
    ConfigError,
    PlatformConfig,
    TeamConfig,
    default_provider_problems,
    parse_config,
    split_keys,
)
from infra.config.loading import DISABLE_DEFAULTS_KEY
from tests.infra import factories
from tests.infra.factories import STACKS
from tests.infra.factories import config_problems as _problems
from tests.infra.factories import stack_values as _values


@pytest.mark.parametrize("stack", sorted(p.name[7:-5] for p in STACKS.glob("Pulumi.*.yaml")))
def test_every_example_stack_parses(stack: str) -> None:
    config = parse_config(_values(stack))
    assert isinstance(config, PlatformConfig if not stack.startswith("team-") else TeamConfig)


def test_typo_names_full_key_path_and_suggests() -> None:
    values = _values("team-cv-prod")
    values["quota"] = {**values["quota"], "gpuQouta": 8}
    problems = _problems(values)
    assert problems == [("kubeai:quota.gpuQouta", "unknown key; did you mean 'gpus'?")]
    values = _values("prod-ack")
    values["addons"] = {"volcanoo": {}}
    [(path, message)] = _problems(values)
    assert path == "kubeai:addons.volcanoo" and "did you mean 'volcano'" in message
    values = _values("prod-ack")
    values["nodePools"][1]["gpusPerNod"] = 2
    [(path, message)] = _problems(values)
    assert path == "kubeai:nodePools[1].gpusPerNod" and "gpusPerNode" in message


def test_secrets_must_not_be_plain_config() -> None:
    raw = yaml.safe_load((STACKS / "Pulumi.prod-eks.yaml").read_text())["config"]
    raw["kubeai:postgresDsn"] = "postgresql://user:pw@db/kubeai"
    with pytest.raises(ConfigError) as caught:
        split_keys(raw)
    assert caught.value.problems[0][0] == "kubeai:postgresDsn"
    assert "pulumi config set --secret" in caught.value.problems[0][1]
    raw["kubeai:postgresDsn"] = {"secure": "AAABAJ..."}
    values, secrets = split_keys(raw)
    assert secrets == {"postgresDsn"} and "postgresDsn" not in values


def test_value_errors_name_the_key() -> None:
    values = _values("prod-ack")
    bad = copy.deepcopy(values)
    bad["nodePools"][1]["minSize"] = 30
    [(path, message)] = _problems(bad)
    assert path == "kubeai:nodePools[1]" and "minSize 30 must be <= maxSize 16" in message
    bad = copy.deepcopy(values)
    bad["glue"]["image"]["tag"] = "latest"
    [(path, message)] = _problems(bad)
    assert path == "kubeai:glue.image.tag" and "never 'latest'" in message
    bad = copy.deepcopy(values)
    bad["cluster"]["provider"] = "eks"
    [(path, _)] = _problems(bad)
    assert path == "kubeai:cluster"
    assert _problems({"stackKind": "cluster"}) == [
        ("kubeai:stackKind", "must be 'platform' or 'team', got 'cluster'")
    ]
    bad = _values("team-cv-prod")
    bad["quota"]["memory"] = "lots"
    [(path, message)] = _problems(bad)
    assert path == "kubeai:quota.memory" and "Kubernetes quantity" in message


def test_a_bad_mapping_key_is_named_by_its_key() -> None:
    """Quoted inputs of a trial: ``kmsEncryptionContext: {"": x}`` was reported at
    ``kmsEncryptionContext..[key]`` and an integer ``values`` key at ``values[1].[key]``; the
    problem is the mapping's and its message names the key."""
    values = factories.platform_values("ack")
    values["cluster"]["ack"]["nodeLogin"] = {
        "method": "kmsEncryptedPassword",
        "kmsEncryptionContext": {"": "x"},
    }
    problems = dict(factories.config_problems(values))
    assert problems["kubeai:cluster.ack.nodeLogin.kmsEncryptionContext"].startswith("key '': ")
    values = factories.platform_values("eks", addons={"volcano": {"values": {1: {"a": 1}}}})
    (path, message), *_ = factories.config_problems(values)
    assert path == "kubeai:addons.volcano.values" and message.startswith("key '1': ")


@pytest.mark.parametrize(
    "value",
    [
        ["*"],
        ["kubernetes", "aws", "gcp", "alicloud"],
        '["*"]',
        '["kubernetes","aws","gcp","alicloud"]',
    ],
)
def test_default_providers_disabled_by_a_list_or_its_json_text(value: object) -> None:
    assert default_provider_problems({DISABLE_DEFAULTS_KEY: value}) == []


@pytest.mark.parametrize("value", ["*", "kubernetes", '"*"', "true", True, {"all": True}])
def test_default_providers_given_as_anything_but_a_list_are_refused(value: object) -> None:
    """The engine reads ``pulumi:disable-default-providers`` as a JSON list: a bare ``"*"`` in
    the stack file would leave every default provider enabled."""
    [(path, message)] = default_provider_problems({DISABLE_DEFAULTS_KEY: value})
    assert path == DISABLE_DEFAULTS_KEY and message.startswith("must be a list of packages")
    assert '["kubernetes", "aws", "gcp", "alicloud"]' in message


def test_default_providers_left_enabled_are_named() -> None:
    [(_, message)] = default_provider_problems({DISABLE_DEFAULTS_KEY: ["kubernetes"]})
    assert message.startswith("must disable the default providers of aws, gcp, alicloud")
    [(_, message)] = default_provider_problems({})
    assert message.startswith("must disable the default providers of kubernetes, aws")
