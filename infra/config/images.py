"""``kubeai:images``: the registry mirror every image is pulled from, and the pull secrets.

Air-gapped clusters reach no public registry. With ``registry`` set, every image the platform
deploys (upstream add-ons and their operands, Triton, the glue image) is pulled from that one
mirror with the same pinned tag; ``infra.images`` owns the mapping
(``<registry>/<source host>/<path>:<tag>``) and lists the images to copy.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from infra.config.shared import Name, Strict

#: ``host[:port]`` then optional path segments, lowercase, as image references spell them.
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_REGISTRY = rf"^{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$"


class ImageSettings(Strict):
    """``kubeai:images``.

    ``registry``: ``<host>[:port][/prefix]`` of the mirror (no scheme, no tag), e.g.
    ``mirror.corp.example:5000/kubeai``; unset: images come from their sources.
    ``pullSecrets``: names of ``kubernetes.io/dockerconfigjson`` Secrets every platform workload
    references (upstream charts' ``imagePullSecrets``, ServiceAccounts of the kustomize
    add-ons, the glue and Triton pods); each must exist in the namespace of the pods that use
    it (README, "Air-gapped install"). Volcano's chart takes a single name: the first.
    """

    registry: str | None = Field(default=None, max_length=255)
    pull_secrets: list[Name] = Field(default_factory=list, max_length=10)

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" in value:
            raise ValueError(
                f"a registry host and optional path, without a scheme: {value.split('://', 1)[1]!r}"
            )
        value = value.rstrip("/")
        port = re.search(r":([0-9]+)(/|$)", value)
        if not re.match(_REGISTRY, value) or (port and not 0 < int(port.group(1)) < 65536):
            raise ValueError(
                "must be <host>[:port][/path] in lowercase (e.g. mirror.corp.example:5000/kubeai), "
                f"got {value!r}"
            )
        return value

    @field_validator("pull_secrets")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({n for n in value if value.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate Secret name(s) {duplicates}")
        return value
