"""Settings of the serving agent, read once at start from the environment.

One pydantic-settings class; every variable starts with ``KUBEAI_AGENT_`` and nested artifact
store settings use ``__``::

    KUBEAI_AGENT_REGISTRY_URL=http://kubeai-registry.kubeai:8080
    KUBEAI_AGENT_SERVICE=fraud-scoring
    KUBEAI_AGENT_POD=fraud-scoring-7d9f-abcde        # default: $POD_NAME, else the hostname
    KUBEAI_AGENT_TRITON_URL=http://127.0.0.1:8000
    KUBEAI_AGENT_TRITON_GRPC_URL=127.0.0.1:8001                     # empty: control over HTTP
    KUBEAI_AGENT_TRITON_METRICS_URL=http://127.0.0.1:8002/metrics   # empty: no traffic figures
    KUBEAI_AGENT_MODEL_REPOSITORY=/models
    KUBEAI_AGENT_REPOSITORY_BUDGET_BYTES=20Gi         # the volume's sizeLimit; default: free space
    KUBEAI_AGENT_ARTIFACTS__S3__ENDPOINT_URL=http://minio.storage:9000

Invalid values raise ``pydantic.ValidationError`` whose ``loc`` names the field (e.g.
``("poll_interval",)``) and whose message says the valid range.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from glue.artifacts.settings import ArtifactSettings
from glue.model_registry.schemas import DNS1123_LABEL, Assignment
from glue.triton.repository import parse_grpc_address
from infra.quantity import parse_quantity

_POD_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def default_pod_name() -> str:
    """``$POD_NAME`` (set by the Deployment through the downward API), else the hostname.

    The hostname is lower-cased and characters outside ``[a-z0-9.-]`` become ``-``.
    """
    name = os.environ.get("POD_NAME") or socket.gethostname() or "localhost"
    return re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-.") or "localhost"


def _check_http_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} {value!r} must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{field} {value!r} must not have a query or fragment")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"{field} {value!r} has an invalid port: {exc}") from None
    return value.rstrip("/")


class AgentSettings(BaseSettings):
    """Configuration of one serving agent (env prefix ``KUBEAI_AGENT_``, nested ``__``).

    Fields:
        registry_url: registry base URL, ``http(s)://host:port``.
        service: the inference service this pod belongs to (DNS-1123 label).
        pod: this pod's name (DNS-1123 subdomain); default ``$POD_NAME`` or the hostname.
        triton_url: the tritonserver beside the agent, ``http://host:port`` (HTTP endpoint).
        triton_grpc_url: that tritonserver's gRPC endpoint, ``host:port`` (``grpc://`` prefix
            allowed): the agent loads, unloads and reads the repository index there, so a load
            never holds one of Triton's HTTP worker threads (and the inference requests on its
            connections) for the load's duration. Empty: repository control over ``triton_url``
            (HTTP; inference on one HTTP thread then stalls during every load).
        triton_metrics_url: that tritonserver's Prometheus endpoint
            (``http://127.0.0.1:8002/metrics``), read on every reconcile for per-version request
            counters and p99 latency sent with the pod report; empty: not read.
        model_repository: Triton's ``--model-repository`` directory, shared with the agent.
        poll_interval: seconds between reconciles when all is well (0.05..3600): the pod
            reports (its heartbeat) at least this often. With ``long_poll`` a change of the
            desired state is heard at once in between, and reconciled without waiting.
        long_poll: between reconciles, hold a request open at the registry (``wait`` up to the
            rest of ``poll_interval`` with the last ETag) so an alias move or canary reaches the
            pod within milliseconds. A registry that answers at once (no long-poll support) is
            then asked once per ``poll_interval``, as without it. False: plain polling.
        backoff_initial / backoff_max: seconds of the first retry delay after a failure and its
            cap; the delay doubles per consecutive failure (0.01..3600, initial <= max).
        ready_timeout: seconds a load may take until every version is READY (0.1..3600).
        registry_timeout: seconds per registry request (0.1..120).
        metrics_port: port of the agent's HTTP endpoint: Prometheus ``/metrics``, the readiness
            probe ``/readyz`` and the liveness probe ``/healthz``; 0 turns it off.
        metrics_address: address that endpoint binds (``0.0.0.0`` in a pod).
        keep_previous: older version directories kept per model for fast rollback (0..10). A
            download first removes every version of its model but the served one, so a swap
            never holds more than the served and the new version: what is kept is the version
            served before the latest swap.
        repository_budget_bytes: bytes the model repository may hold (the ``sizeLimit`` of its
            volume), as a byte count or a Kubernetes quantity (``20Gi``, ``500M``; fractions of
            a byte are dropped); >= 1. None (unset or empty): the free space of its filesystem. A
            download that cannot fit is refused (``glue.serving_agent.disk``).
        artifacts: settings of the artifact store the versions are downloaded from.
        team: the team owning the service (the registry names services per team; in a pod,
            the namespace).
        service_account: the ServiceAccount this pod runs as; recorded when the agent creates
            its service, so that only this account's pod-bound tokens may report its pods.
        registry_token_file: bearer token for the registry, re-read when it changes: the pod's
            projected ServiceAccount token with the registry's audience. None: no credentials
            (a registry open on loopback).
        initial_assignments: JSON list of ``{"model": ..., "alias": ...}``; when the registry
            does not know the service yet, the agent creates it with these (and never touches
            an existing service, so a later promotion is never undone). Empty: never create.
    """

    model_config = SettingsConfigDict(
        env_prefix="KUBEAI_AGENT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    registry_url: str
    service: Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS1123_LABEL)]
    pod: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=_POD_PATTERN)] = (
        Field(default_factory=default_pod_name)
    )
    triton_url: str = "http://127.0.0.1:8000"
    triton_grpc_url: str = "127.0.0.1:8001"
    triton_metrics_url: str = "http://127.0.0.1:8002/metrics"
    model_repository: Path
    poll_interval: float = Field(default=5.0, ge=0.05, le=3600)
    long_poll: bool = True
    backoff_initial: float = Field(default=1.0, ge=0.01, le=3600)
    backoff_max: float = Field(default=60.0, ge=0.01, le=3600)
    ready_timeout: float = Field(default=120.0, ge=0.1, le=3600)
    registry_timeout: float = Field(default=5.0, ge=0.1, le=120)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_address: str = "0.0.0.0"  # noqa: S104 - a pod's metrics must be scrapable
    keep_previous: int = Field(default=1, ge=0, le=10)
    repository_budget_bytes: int | None = Field(default=None, ge=1)
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    team: Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS1123_LABEL)] = (
        "default"
    )
    initial_assignments: list[Assignment] = Field(default_factory=list, max_length=64)
    registry_token_file: Path | None = None
    service_account: (
        Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=_POD_PATTERN)] | None
    ) = None

    @field_validator("registry_url")
    @classmethod
    def _registry_url(cls, value: str) -> str:
        return _check_http_url(value, "registry_url")

    @field_validator("triton_url")
    @classmethod
    def _triton_url(cls, value: str) -> str:
        value = _check_http_url(value, "triton_url")
        if urlsplit(value).path not in ("", "/"):
            raise ValueError(f"triton_url {value!r} must be http://host:port without a path")
        return value

    @field_validator("triton_grpc_url")
    @classmethod
    def _triton_grpc_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        try:
            parse_grpc_address(value)
        except ValueError:
            raise ValueError(
                f"triton_grpc_url {value!r} must be host:port (Triton's gRPC endpoint, port "
                "1-65535), or empty for repository control over triton_url"
            ) from None
        return value

    @field_validator("triton_metrics_url")
    @classmethod
    def _triton_metrics_url(cls, value: str) -> str:
        return _check_http_url(value, "triton_metrics_url") if value else value

    @field_validator("model_repository", mode="before")
    @classmethod
    def _repository(cls, value: object) -> object:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", str(value)):
            raise ValueError(
                f"model_repository {str(value)!r} must be a local directory path (the agent "
                "stages files into it), not a URI"
            )
        return value

    @field_validator("repository_budget_bytes", mode="before")
    @classmethod
    def _budget(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None  # an empty variable: unset
            try:
                return int(parse_quantity(value))
            except ValueError as exc:
                raise ValueError(f"repository_budget_bytes: {exc}") from None
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> AgentSettings:
        if self.backoff_initial > self.backoff_max:
            raise ValueError(
                f"backoff_initial ({self.backoff_initial}) must be <= backoff_max "
                f"({self.backoff_max})"
            )
        return self
