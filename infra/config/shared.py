"""Shared pieces of the stack configuration: names, quantities, taints, resources, errors.

Every model is ``Strict``: camelCase keys as in the stack file (``kubeai:<key>``), unknown keys
are errors, values immutable. ``ConfigError`` carries every problem as ``(key path, message)``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.quantity import parse_quantity

NAMESPACE = "kubeai"
#: Key of the GPU extended resource (NVIDIA device plugin, ``nvidia.com/gpu``).
GPU_RESOURCE = "nvidia.com/gpu"
#: Default taint of GPU pools and label every GPU node carries (device plugin affinity
#: ``nvidia.com/gpu.present=true``; NVIDIA/k8s-device-plugin values.yaml at v0.20.0).
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
#: Label of every GPU node naming its pool's GPU type (``NodePool.effective_labels``).
GPU_TYPE_LABEL = "kubeai.dev/gpu-type"
#: Label of every node naming its pool (``NodePool.effective_labels``).
POOL_LABEL = "kubeai.dev/pool"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL)]
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def check_qualified_name(value: str, *, ignore_case: bool = False) -> str:
    """Validator: ``value`` as a Kubernetes qualified name, the rule of label keys
    (apimachinery ``IsQualifiedName``): an optional prefix, a DNS subdomain of at most 253
    characters, and ``/``, then a name of 1-63 letters, digits, ``-``, ``_`` and ``.``, starting
    and ending with a letter or digit. ``ignore_case``: the prefix may have capitals, as in
    annotation keys (``ValidateAnnotations`` checks the lowercased key). ``ValueError`` naming
    the bad part otherwise."""
    parts = value.split("/")
    if len(parts) > 2:
        raise ValueError(f"{value!r} is not a qualified name: at most one '/' (prefix/name)")
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        subdomain = prefix.lower() if ignore_case else prefix
        if not (0 < len(prefix) <= 253 and _DNS_SUBDOMAIN.match(subdomain)):
            raise ValueError(
                f"{value!r} is not a qualified name: the prefix {prefix!r} must be a DNS "
                f"subdomain (at most 253 {'' if ignore_case else 'lowercase '}letters, digits, "
                "'-' and '.', a letter or digit at both ends of each dot-separated part)"
            )
    if not (len(name) <= 63 and _QUALIFIED_NAME.match(name)):
        raise ValueError(
            f"{value!r} is not a qualified name: the name {name!r} must be 1-63 letters, digits, "
            "'-', '_' and '.', with a letter or digit at both ends"
        )
    return value


#: A label key (``check_qualified_name``).
LabelKey = Annotated[str, AfterValidator(check_qualified_name)]
#: An annotation key: a qualified name whose prefix may have capitals.
AnnotationKey = Annotated[
    str, AfterValidator(lambda key: check_qualified_name(key, ignore_case=True))
]
LabelValue = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
]
Quantity = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class ConfigError(ValueError):
    """Invalid stack configuration; ``problems`` is a list of ``(key path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


class Strict(BaseModel):
    """Base: camelCase keys as in the stack file, unknown keys are errors, values immutable."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


def check_quantity(value: str | int | float | None) -> str | None:
    """Validator: ``value`` as a Kubernetes quantity string (``ValueError`` when malformed)."""
    if value is None:
        return None
    parse_quantity(value)
    return str(value)


class Taint(Strict):
    """A node taint: key, value, effect (NoSchedule, PreferNoSchedule, NoExecute)."""

    key: LabelKey
    value: LabelValue = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class Toleration(Strict):
    """A pod toleration (``operator`` Exists matches any value; empty key + Exists matches all)."""

    key: str = ""
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] = ""

    def tolerates(self, taint: Taint) -> bool:
        """Whether this toleration lets a pod schedule onto a node with ``taint``."""
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value

    def manifest(self) -> dict[str, str]:
        """The Kubernetes ``tolerations[]`` entry."""
        out: dict[str, str] = {"operator": self.operator}
        if self.key:
            out["key"] = self.key
        if self.operator == "Equal":
            out["value"] = self.value
        if self.effect:
            out["effect"] = self.effect
        return out


GPU_TOLERATION = Toleration(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule")


def untolerated(taints: list[Taint], tolerations: list[Toleration]) -> list[Taint]:
    """Taints (NoSchedule/NoExecute) that none of ``tolerations`` tolerates."""
    return [
        t
        for t in taints
        if t.effect != "PreferNoSchedule" and not any(tol.tolerates(t) for tol in tolerations)
    ]


class Resources(Strict):
    """Amounts of CPU (cores), memory (bytes) and GPUs, as Kubernetes quantities / counts."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpus: int | None = Field(default=None, ge=0, le=100_000)

    _q = field_validator("cpu", "memory")(check_quantity)

    def amount(self, resource: Literal["cpu", "memory", "gpus"]) -> Decimal | None:
        """The amount of one resource (None when unset)."""
        value = getattr(self, resource)
        return None if value is None else parse_quantity(value)

    def as_resource_list(self) -> dict[str, str]:
        """Kubernetes ``ResourceList`` (``cpu``, ``memory``, ``nvidia.com/gpu``)."""
        out: dict[str, str] = {}
        if self.cpu is not None:
            out["cpu"] = self.cpu
        if self.memory is not None:
            out["memory"] = self.memory
        if self.gpus is not None:
            out[GPU_RESOURCE] = str(self.gpus)
        return out


class ContainerResources(Strict):
    """Requests and limits of one container (CPU and memory; GPUs are set apart).

    Every container the platform renders carries both, so a namespace LimitRange's defaults never
    fill in a limit below an explicit request (LimitRanger then refuses the pod).
    """

    requests: Resources
    limits: Resources

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ContainerResources:
        if over := exceeds(self.requests, self.limits, "limits"):
            raise ValueError(f"requests exceed limits: {', '.join(over)}")
        return self

    def manifest(self) -> dict[str, dict[str, str]]:
        """The Kubernetes ``resources`` block (``requests`` and ``limits``)."""
        return {
            "requests": self.requests.as_resource_list(),
            "limits": self.limits.as_resource_list(),
        }


def exceeds(small: Resources, big: Resources, name: str) -> list[str]:
    """Resources set in ``small`` that are larger than (or unset in) ``big``, each as
    ``gpus 2 > 1`` or, unset, ``gpus 2 but <name> sets no gpus`` (``name`` names ``big``)."""
    out = []
    resources: tuple[Literal["cpu", "memory", "gpus"], ...] = ("cpu", "memory", "gpus")
    for resource in resources:
        a, b = small.amount(resource), big.amount(resource)
        given = f"{resource} {getattr(small, resource)}"
        if a is not None and b is None:
            out.append(f"{given} but {name} sets no {resource}")
        elif a is not None and b is not None and a > b:
            out.append(f"{given} > {getattr(big, resource)}")
    return out


class ChartSource(Strict):
    """Where a Helm chart comes from: a repository URL (mirror allowed) or a local chart path."""

    repository: str | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ChartSource:
        if self.repository and self.path:
            raise ValueError("set either 'repository' (URL) or 'path' (local chart), not both")
        if self.repository and not self.repository.startswith(("https://", "http://", "oci://")):
            raise ValueError("'repository' must be an https://, http:// or oci:// URL")
        return self


class ArtifactStore(Strict):
    """``kubeai:artifactStore``: the platform's object store (models, datasets, Argo artifacts)."""

    kind: Literal["s3", "oss", "gcs", "minio"]
    bucket: Name
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+$")
    region: str | None = Field(default=None, pattern=r"^[a-z0-9-]+$")

    @model_validator(mode="after")
    def _endpoint(self) -> ArtifactStore:
        if self.kind in ("oss", "minio") and not self.endpoint_url:
            raise ValueError(f"kind {self.kind!r} needs endpointUrl")
        return self
