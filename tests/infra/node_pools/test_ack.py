"""infra/node_pools/ack.py: ACK node pools with GPU instance types, scaling, labels, taints and
the nodes' login (a key pair, or a password / KMS ciphertext from Pulumi secrets)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.config import AckNodeLogin, ConfigError
from infra.mocks import is_secret, record_stack, reveal
from infra.node_pools.ack import login_args
from tests.infra import factories

NODE_POOL = "alicloud:cs/nodePool:NodePool"


def test_gpu_node_pool(platform_run) -> None:
    run = platform_run("ack")
    gpu = run.one(NODE_POOL, "pool-gpu-node-pool")
    inputs = gpu.inputs
    assert inputs["clusterId"] == "c0123456789abcdef0123456789"
    assert inputs["instanceTypes"] == ["ecs.gn7i-c8g1.2xlarge"]
    assert inputs["vswitchIds"] == ["vsw-0abc123"]
    assert inputs["scalingConfig"] == {"enable": True, "minSize": 0, "maxSize": 4}
    assert inputs["spotStrategy"] == "SpotAsPriceGo"
    assert {"key": "nvidia.com/gpu.present", "value": "true"} in inputs["labels"]
    assert inputs["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]
    provider = run.one("pulumi:providers:alicloud", "cloud")  # the stack's one (infra.providers)
    assert provider.inputs["region"] == "cn-hangzhou"
    assert gpu.provider is not None and "pulumi:providers:alicloud::cloud::" in gpu.provider


def test_cpu_node_pool(platform_run) -> None:
    cpu = platform_run("ack").one(NODE_POOL, "pool-cpu-node-pool").inputs
    assert cpu["spotStrategy"] == "NoSpot"
    assert cpu.get("taints", []) == []


def _login(method: str, **extra: object) -> dict[str, object]:
    return {"ack": {"nodeLogin": {"method": method, "keyName": None, **extra}}}


def test_key_pair_login(platform_run) -> None:
    inputs = platform_run("ack").one(NODE_POOL, "pool-gpu-node-pool").inputs
    assert inputs["keyName"] == "kubeai-nodes"
    assert "password" not in inputs and "kmsEncryptedPassword" not in inputs


def test_password_login_comes_from_the_pulumi_secret(platform_run) -> None:
    run = platform_run(
        "ack", secrets={"ackNodePassword": "S3cret-pass"}, cluster=_login("password")
    )
    inputs = run.one(NODE_POOL, "pool-gpu-node-pool").inputs
    assert is_secret(inputs["password"]) and reveal(inputs["password"]) == "S3cret-pass"
    assert "keyName" not in inputs


def test_kms_encrypted_password_login(platform_run) -> None:
    run = platform_run(
        "ack",
        secrets={"ackNodeKmsEncryptedPassword": "ciphertext"},
        cluster=_login("kmsEncryptedPassword", kmsEncryptionContext={"purpose": "nodes"}),
    )
    inputs = run.one(NODE_POOL, "pool-cpu-node-pool").inputs
    assert is_secret(inputs["kmsEncryptedPassword"])
    assert reveal(inputs["kmsEncryptedPassword"]) == "ciphertext"
    assert inputs["kmsEncryptionContext"] == {"purpose": "nodes"}


def test_a_password_login_without_its_secret_is_a_config_error() -> None:
    config = factories.platform_config("ack", cluster=_login("password"))
    with pytest.raises(ConfigError) as caught:
        record_stack(config)
    [(path, message)] = caught.value.problems
    assert path == "kubeai:ackNodePassword" and "nodeLogin.method password" in message


def test_login_args_refuse_a_missing_secret() -> None:
    login = AckNodeLogin(method="kmsEncryptedPassword")
    with pytest.raises(ValueError, match="kubeai:ackNodeKmsEncryptedPassword"):
        login_args(login, {})


@pytest.mark.parametrize(
    ("login", "message"),
    [
        ({"method": "keyPair"}, "needs keyName"),
        ({"method": "password", "keyName": "nodes"}, "keyName belongs to method keyPair"),
        ({"method": "password", "kmsEncryptionContext": {"a": "b"}}, "kmsEncryptedPassword"),
        ({"method": "sshCertificate"}, "method"),
    ],
)
def test_bad_logins_are_refused(login: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AckNodeLogin.model_validate(login)


def test_the_ack_cluster_needs_a_login() -> None:
    values = factories.platform_values("ack")
    del values["cluster"]["ack"]["nodeLogin"]
    [(path, message)] = factories.config_problems(values)
    assert path == "kubeai:cluster.ack.nodeLogin" and "required" in message.lower()
