"""infra/config/team.py: queue and quota ordering, GPU tolerations, checks against the platform."""

from __future__ import annotations

import pytest

from infra.config import (
    ConfigError,
    PlatformConfig,
    TeamConfig,
    parse_config,
    platform_outputs,
)
from infra.config.team import DATASET_SECRET, RESERVED_NAMESPACES, RESERVED_PREFIXES
from tests.infra import factories
from tests.infra.factories import config_problems as _problems
from tests.infra.factories import stack_values as _values


def test_queue_capability_above_resource_quota_is_refused() -> None:
    values = _values("team-cv-prod")
    values["queue"]["capability"] = {"cpu": "64", "memory": "256Gi", "gpus": 8}
    values["queue"].pop("deserved"), values["queue"].pop("guarantee")
    values["quota"] = {"gpus": 4, "cpu": "64", "memory": "256Gi"}
    values["inferenceServices"] = []
    [(path, message)] = _problems(values)
    assert path == "kubeai:quota" and "gpus 8 > 4" in message and "gangs" in message


def test_queue_guarantee_and_deserved_bounded_by_capability_and_weight() -> None:
    values = _values("team-cv-prod")
    values["queue"]["guarantee"] = {"gpus": 32}
    [(path, message)] = _problems(values)
    assert path == "kubeai:queue" and "guarantee exceeds capability" in message
    values = _values("team-cv-prod")
    values["queue"]["weight"] = 0
    [(path, message)] = _problems(values)
    assert path == "kubeai:queue.weight" and "greater than or equal to 1" in message


def test_team_asking_more_gpus_than_platform_pools_hold() -> None:
    team = parse_config(_values("team-risk-prod"))
    platform = parse_config(_values("prod-gke"))
    assert isinstance(team, TeamConfig) and isinstance(platform, PlatformConfig)
    team.check_against_platform(platform_outputs(platform))  # 2 <= 24: fine
    values = _values("team-risk-prod")
    values["quota"]["gpus"] = 500
    greedy = parse_config(values)
    assert isinstance(greedy, TeamConfig)
    with pytest.raises(ConfigError) as caught:
        greedy.check_against_platform(platform_outputs(platform))
    [(path, message)] = caught.value.problems
    assert path == "kubeai:quota.gpus" and "500 GPUs" in message and "at most 24" in message


def test_gpu_inference_service_must_tolerate_gpu_taint() -> None:
    values = _values("team-cv-prod")
    values["inferenceServices"][0]["tolerations"] = []
    [(path, message)] = _problems(values)
    assert path == "kubeai:inferenceServices[0].tolerations" and "GPU pool taint" in message


@pytest.mark.parametrize(
    "name", ["kube-system", "kube-public", "kube-node-lease", "default", "argo", "kubeai-system"]
)
def test_a_team_named_after_a_reserved_namespace_is_refused(name: str) -> None:
    """Server-side apply adopts an existing Namespace: a team named ``kube-system`` would have
    taken it over and deleted it with the team stack."""
    problems = _problems(team_config_values(name))
    assert any(key == "kubeai:team.name" and repr(name) in text for key, text in problems), problems


def team_config_values(name: str) -> dict[str, object]:
    values = _values("team-vision-local")
    values["team"] = {"name": name}
    return values


@pytest.mark.parametrize("provider", ["existing", "eks", "gke", "ack"])
@pytest.mark.parametrize("gpu", ["auto", "gpuOperator"])
def test_every_namespace_the_platform_creates_is_reserved(
    platform_run, provider: str, gpu: str
) -> None:
    run = platform_run(provider, addons={"gpu": {"mode": gpu}})
    names = {r.inputs["metadata"]["name"] for r in run.of_type("kubernetes:core/v1:Namespace")}
    assert names
    for name in names:
        assert name in RESERVED_NAMESPACES or name.startswith(RESERVED_PREFIXES), name


def _mount(**extra: object) -> dict[str, object]:
    return {"name": "train", "mountPoint": "oss://kubeai-data/imagenet/", **extra}


def _dataset_problems(**mount: object) -> list[tuple[str, str]]:
    values = factories.team_values(
        datasets=[{"name": "imagenet", "size": "200Gi", "mounts": [_mount(**mount)]}]
    )
    return _problems(values)


ENCRYPTED = [
    {
        "name": "fs.oss.accessKeyId",
        "valueFrom": {"secretKeyRef": {"name": DATASET_SECRET, "key": "access-key-id"}},
    }
]


def test_dataset_mount_options_and_encrypt_options() -> None:
    config = factories.team_config(
        datasets=[
            {
                "name": "imagenet",
                "size": "200Gi",
                "mounts": [
                    _mount(
                        options={"fs.oss.endpoint": "oss-cn-hangzhou-internal.aliyuncs.com"},
                        encryptOptions=ENCRYPTED,
                    )
                ],
            }
        ]
    )
    mount = config.datasets[0].mounts[0]
    assert mount.options == {"fs.oss.endpoint": "oss-cn-hangzhou-internal.aliyuncs.com"}
    assert mount.encrypt_options[0].value_from.secret_key_ref.key == "access-key-id"
    assert config.dataset_secrets == {"datasetAccessKeyId", "datasetAccessKeySecret"}
    assert factories.team_config().dataset_secrets == frozenset()


@pytest.mark.parametrize(
    "option", ["fs.oss.accessKeyId", "fs.oss.accessKeySecret", "aws.secretKey", "fs.s3.token"]
)
def test_credentials_in_plain_options_are_refused(option: str) -> None:
    [(path, message)] = _dataset_problems(options={option: "AKIA..."})
    assert path == "kubeai:datasets[0].mounts[0].options"
    assert option in message and "encryptOptions" in message


def test_an_option_is_plain_or_encrypted_not_both() -> None:
    [(path, message)] = _dataset_problems(encryptOptions=ENCRYPTED * 2)
    assert path == "kubeai:datasets[0].mounts[0]" and "twice" in message
    endpoint = {"name": "fs.oss.endpoint", **{k: v for k, v in ENCRYPTED[0].items() if k != "name"}}
    [(path, message)] = _dataset_problems(
        options={"fs.oss.endpoint": "e"}, encryptOptions=[endpoint]
    )
    assert path == "kubeai:datasets[0].mounts[0]" and "both" in message


def test_the_dataset_secret_has_two_keys() -> None:
    wrong = [
        {
            "name": "fs.oss.accessKeyId",
            "valueFrom": {"secretKeyRef": {"name": DATASET_SECRET, "key": "id"}},
        }
    ]
    [(path, message)] = _dataset_problems(encryptOptions=wrong)
    assert path == "kubeai:datasets[0].mounts[0].encryptOptions[0].valueFrom.secretKeyRef"
    assert "access-key-id, access-key-secret" in message


def test_the_cv_example_mount_has_its_endpoint_and_credentials() -> None:
    config = parse_config(_values("team-cv-prod"))
    assert isinstance(config, TeamConfig)
    [mount] = config.datasets[0].mounts
    assert mount.options["fs.oss.endpoint"].startswith("oss-cn-hangzhou")
    assert {o.name for o in mount.encrypt_options} == {
        "fs.oss.accessKeyId",
        "fs.oss.accessKeySecret",
    }
