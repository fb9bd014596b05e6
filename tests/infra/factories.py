"""Stack configurations for the infra tests: one platform stack per provider and a team stack.

``platform_config(provider, **overrides)`` / ``team_config(**overrides)`` deep-merge overrides
(stack-file form, camelCase keys) into a valid base and validate with ``parse_config``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import upstream
from infra.addons import relative
from infra.config import (
    ArtifactStore,
    ConfigError,
    PlatformConfig,
    PlatformOutputs,
    TeamConfig,
    parse_config,
    platform_outputs,
    split_keys,
)
from infra.versions import Chart


def verified_archive(chart: Chart) -> str:
    """The ``chart`` input a Release of pinned upstream ``chart`` must have by default: the
    verified archive under the tools folder, relative to the current directory."""
    return relative(upstream.ensure(chart.archive.path))


#: The example stack files.
STACKS = Path(__file__).resolve().parents[2] / "stacks"

CLUSTERS: dict[str, dict[str, Any]] = {
    "existing": {"name": "local", "provider": "existing", "existing": {"context": "kind-kubeai"}},
    "eks": {
        "name": "prod",
        "provider": "eks",
        "eks": {
            "clusterName": "kubeai-prod",
            "region": "us-east-1",
            "nodeRoleArn": "arn:aws:iam::123456789012:role/kubeai-nodes",
            "subnetIds": ["subnet-0a1b2c", "subnet-0d4e5f"],
        },
    },
    "gke": {
        "name": "prod",
        "provider": "gke",
        "gke": {"project": "kubeai-prod-1", "location": "us-central1", "clusterName": "kubeai"},
    },
    "ack": {
        "name": "prod",
        "provider": "ack",
        "ack": {
            "clusterId": "c0123456789abcdef0123456789",
            "region": "cn-hangzhou",
            "vswitchIds": ["vsw-0abc123"],
            "nodeLogin": {"method": "keyPair", "keyName": "kubeai-nodes"},
        },
    },
}

#: IAM role of the EKS cluster-autoscaler in the factories' EKS platform.
AUTOSCALER_ROLE = "arn:aws:iam::123456789012:role/kubeai-cluster-autoscaler"
GPU_TYPES = {"existing": "nvidia-t4", "eks": "nvidia-a10g", "gke": "nvidia-l4", "ack": "nvidia-a10"}
INSTANCE_TYPES = {
    "existing": ("gpu-node", "cpu-node"),
    "eks": ("g5.2xlarge", "m6i.xlarge"),
    "gke": ("g2-standard-8", "e2-standard-8"),
    "ack": ("ecs.gn7i-c8g1.2xlarge", "ecs.g7.xlarge"),
}
STORES: dict[str, dict[str, Any]] = {
    "existing": {"kind": "minio", "bucket": "kubeai", "endpointUrl": "http://minio.minio:9000"},
    "eks": {"kind": "s3", "bucket": "kubeai-prod", "region": "us-east-1"},
    "gke": {"kind": "gcs", "bucket": "kubeai-prod"},
    "ack": {
        "kind": "oss",
        "bucket": "kubeai-prod",
        "endpointUrl": "https://oss-cn-hangzhou.aliyuncs.com",
        "region": "cn-hangzhou",
    },
}


def store(provider: str) -> ArtifactStore:
    """The artifact store of ``provider``'s platform stack (``STORES``), validated."""
    return ArtifactStore.model_validate(STORES[provider])


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base`` (lists and scalars replace)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def platform_values(provider: str = "eks", **overrides: Any) -> dict[str, Any]:
    """Stack-file values of a platform stack on ``provider`` with a GPU pool and a CPU pool."""
    gpu_instance, cpu_instance = INSTANCE_TYPES[provider]
    base = {
        "stackKind": "platform",
        "environment": "prod" if provider != "existing" else "local",
        "cluster": CLUSTERS[provider],
        "nodePools": [
            {
                "name": "gpu",
                "instanceType": gpu_instance,
                "gpuType": GPU_TYPES[provider],
                "gpusPerNode": 2,
                "minSize": 0,
                "maxSize": 4,
                "capacityType": "spot",
            },
            {"name": "cpu", "instanceType": cpu_instance, "minSize": 1, "maxSize": 3},
        ],
        "glue": {"image": {"repository": "ghcr.io/acme/kubeai-glue", "tag": "0.1.0"}},
        "artifactStore": STORES[provider],
    }
    if provider == "eks":  # the cluster-autoscaler's IRSA role is required on EKS
        base["addons"] = {"clusterAutoscaler": {"roleArn": AUTOSCALER_ROLE}}
    return merge(base, overrides)


def platform_config(provider: str = "eks", **overrides: Any) -> PlatformConfig:
    """A validated platform stack config (see ``platform_values``)."""
    config = parse_config(platform_values(provider, **overrides))
    assert isinstance(config, PlatformConfig)
    return config


def team_values(**overrides: Any) -> dict[str, Any]:
    """Stack-file values of team ``cv`` with a dataset and a GPU and a CPU inference service."""
    base = {
        "stackKind": "team",
        "platformStack": "prod-eks",
        "team": {
            "name": "cv",
            "groups": {"admins": ["cv-leads"], "members": ["cv-eng"], "viewers": ["analysts"]},
        },
        "queue": {
            "weight": 4,
            "capability": {"cpu": "64", "memory": "256Gi", "gpus": 4},
            "guarantee": {"cpu": "8", "memory": "32Gi", "gpus": 1},
        },
        "quota": {"gpus": 4, "cpu": "64", "memory": "256Gi"},
        "datasets": [
            {
                "name": "imagenet",
                "size": "200Gi",
                "mounts": [{"name": "train", "mountPoint": "s3://kubeai-data/imagenet"}],
            }
        ],
        "inferenceServices": [
            {"name": "resnet", "model": "resnet50", "gpus": 1, "replicas": 2},
            {"name": "ranker", "model": "ranker", "cpu": "2", "memory": "4Gi"},
        ],
    }
    return merge(base, overrides)


def team_config(**overrides: Any) -> TeamConfig:
    """A validated team stack config (see ``team_values``)."""
    config = parse_config(team_values(**overrides))
    assert isinstance(config, TeamConfig)
    return config


def outputs_of(config: PlatformConfig) -> PlatformOutputs:
    """The platform outputs a team stack reads (computed as the platform exports them)."""
    return platform_outputs(config)


def stack_values(stack: str) -> dict[str, Any]:
    """Plain ``kubeai:`` values of the example stack file ``stacks/Pulumi.<stack>.yaml``."""
    raw = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    return split_keys(raw)[0]


def config_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``(key path, message)`` problems ``parse_config(values)`` fails with (it must fail)."""
    with pytest.raises(ConfigError) as caught:
        parse_config(values)
    return caught.value.problems
