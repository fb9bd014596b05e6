"""GPU (and CPU) node pools: one ``GpuNodePool`` component over every provider.

A pool is described once (``infra.config.NodePool``: instance type, GPU type and count per node,
min/max size, spot or on-demand, labels, taints) and provisioned with the provider SDK's own
node-pool resource:

* ``existing`` (``infra.node_pools.existing``): nothing is provisioned; the nodes are expected to
  carry the pool's labels and taints already (kind, on-prem); the outputs describe the pool.
* ``eks`` (``infra.node_pools.eks``): ``pulumi_aws.eks.NodeGroup`` with the NVIDIA AMI type.
* ``gke`` (``infra.node_pools.gke``): ``pulumi_gcp.container.NodePool`` with guest accelerators
  and GKE-managed drivers.
* ``ack`` (``infra.node_pools.ack``): ``pulumi_alicloud.cs.NodePool`` with GPU instance types.

Provider SDKs are optional extras (``kubeai-platform[aws]`` etc.), imported only when a pool of
that provider is built. Every GPU pool carries the label ``nvidia.com/gpu.present=true`` and, by
default, the taint ``nvidia.com/gpu=present:NoSchedule`` (``NodePool.effective_labels`` /
``effective_taints``); the device plugin and every GPU workload tolerate it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast

import pulumi

from infra.aliases import with_previous_type
from infra.config import Cluster, NodePool

PROVIDERS = ("existing", "eks", "gke", "ack")
#: Pulumi type of the component, and the type it had before (package ``infra.clusters``).
TYPE = "kubeai:node_pools:GpuNodePool"
PREVIOUS_TYPE = "kubeai:clusters:GpuNodePool"


class PoolProvisioner(Protocol):
    """What each provider module offers: ``provision`` creates the pool's resources as children
    of ``parent`` (named ``<name>-...``) and returns the pool's id output."""

    def provision(
        self, name: str, cluster: Cluster, pool: NodePool, parent: pulumi.Resource
    ) -> pulumi.Output[str]: ...


@dataclass(frozen=True)
class GpuNodePoolArgs:
    """Inputs of ``GpuNodePool``: the cluster (provider and its block) and the pool."""

    cluster: Cluster
    pool: NodePool
    #: The stack's Pulumi secrets by key: ACK reads its node login password from them.
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the pool for settings its provider cannot provision.

        The stack config rejects the same settings first, with their key paths
        (``infra.config.platform.platform_problems``); this guards direct use of the component.
        """
        provider = self.cluster.provider
        where = f"node pool {self.pool.name!r} (provider {provider})"
        if provider not in PROVIDERS:
            raise ValueError(f"{where}: unknown provider; known: {', '.join(PROVIDERS)}")
        if provider != "existing" and getattr(self.cluster, provider) is None:
            raise ValueError(f"{where}: kubeai:cluster.{provider} is missing")
        if provider != "existing" and self.pool.max_size < 1:
            raise ValueError(f"{where}: maxSize must be >= 1 for a provisioned pool")
        if provider == "gke" and self.pool.is_gpu and not self.pool.gpu_type.startswith("nvidia-"):
            raise ValueError(
                f"{where}: gpuType must be a GKE accelerator type such as nvidia-l4 or "
                f"nvidia-tesla-t4, got {self.pool.gpu_type!r}"
            )


def provisioner(provider: str) -> PoolProvisioner:
    """The provider module (``infra.node_pools.<provider>``), imported on first use; its cloud SDK
    is imported only inside ``provision``. Raises ``ValueError`` for an unknown provider."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    return cast(PoolProvisioner, importlib.import_module(f"infra.node_pools.{provider}"))


class GpuNodePool(pulumi.ComponentResource):
    """A node pool on any provider, with the GPU label and taint conventions applied.

    Attributes (typed outputs): ``pool_name``, ``provider``, ``node_pool_id`` (provider id;
    ``existing/<name>`` for existing clusters), ``instance_type``, ``gpu_type``,
    ``gpus_per_node``, ``max_gpus``, ``labels`` and ``taints`` (Kubernetes form:
    ``{key, value, effect}``).
    """

    pool_name: pulumi.Output[str]
    provider: pulumi.Output[str]
    node_pool_id: pulumi.Output[str]
    instance_type: pulumi.Output[str]
    gpu_type: pulumi.Output[str]
    gpus_per_node: pulumi.Output[int]
    max_gpus: pulumi.Output[int]
    labels: pulumi.Output[dict[str, str]]
    taints: pulumi.Output[list[dict[str, str]]]

    def __init__(
        self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__(TYPE, name, None, with_previous_type(opts, PREVIOUS_TYPE))
        pool = args.pool
        if args.cluster.provider == "ack":
            # ACK nodes need a login secret, which no other provider takes.
            from infra.node_pools import ack

            self.node_pool_id = ack.provision(name, args.cluster, pool, self, args.secrets)
        else:
            module = provisioner(args.cluster.provider)
            self.node_pool_id = module.provision(name, args.cluster, pool, self)
        self.pool_name = pulumi.Output.from_input(pool.name)
        self.provider = pulumi.Output.from_input(args.cluster.provider)
        self.instance_type = pulumi.Output.from_input(pool.instance_type)
        self.gpu_type = pulumi.Output.from_input(pool.gpu_type)
        self.gpus_per_node = pulumi.Output.from_input(pool.gpus_per_node)
        self.max_gpus = pulumi.Output.from_input(pool.max_gpus)
        self.labels = pulumi.Output.from_input(pool.effective_labels)
        self.taints = pulumi.Output.from_input([t.model_dump() for t in pool.effective_taints])
        self.register_outputs(
            {
                "poolName": self.pool_name,
                "provider": self.provider,
                "nodePoolId": self.node_pool_id,
                "instanceType": self.instance_type,
                "gpuType": self.gpu_type,
                "gpusPerNode": self.gpus_per_node,
                "maxGpus": self.max_gpus,
                "labels": self.labels,
                "taints": self.taints,
            }
        )
