"""``existing`` clusters (kind, on-prem, any kubeconfig): nothing is provisioned.

The pool describes nodes that already exist. They must carry the pool's labels and taints
(``NodePool.effective_labels``/``effective_taints``); for kind, set them in the kind config's
``kubeadmConfigPatches``/``labels``, for on-prem nodes with ``kubectl label``/``taint``. The
component's outputs still describe the pool, so capacity checks and GPU add-ons work the same.
"""

from __future__ import annotations

import pulumi

from infra.config import Cluster, NodePool


def pool_id(pool: NodePool) -> str:
    """The id an existing pool is reported under: ``existing/<pool name>``."""
    return f"existing/{pool.name}"


def provision(
    name: str, cluster: Cluster, pool: NodePool, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """Provision nothing; return the pool's descriptive id."""
    del name, cluster, parent
    return pulumi.Output.from_input(pool_id(pool))
