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
    parse_config,
    split_keys,
)
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
    ``kmsEncryptionContext..[key]`` and an integer ``values`` key at ``values[1].[key]``."""
    values = factories.platform_values("ack")
    values["cluster"]["ack"]["nodeLogin"] = {
        "method": "kmsEncryptedPassword",
        "kmsEncryptionContext": {"": "x"},
    }
    problems = factories.config_problems(values)
    assert ("kubeai:cluster.ack.nodeLogin.kmsEncryptionContext['']") in [p for p, _ in problems]
    values = factories.platform_values("eks", addons={"volcano": {"values": {1: {"a": 1}}}})
    (path, message), *_ = factories.config_problems(values)
    assert path == "kubeai:addons.volcano.values[1]" and message.startswith("the key: ")
