"""Settings of the lifecycle controller, read once at start from the environment.

One pydantic-settings class; every variable starts with ``KUBEAI_CONTROLLER_``, the artifact
store's settings are nested under ``ARTIFACTS__``::

    KUBEAI_CONTROLLER_REGISTRY_URL=http://kubeai-registry.kubeai:8080
    KUBEAI_CONTROLLER_REGISTRY_TOKEN_FILE=/var/run/secrets/kubeai/registry/token
    KUBEAI_CONTROLLER_TEAM_LABEL=kubeai.dev/team
    KUBEAI_CONTROLLER_ARTIFACT_ROOT=s3://kubeai-artifacts
    KUBEAI_CONTROLLER_ARTIFACTS__S3__ENDPOINT_URL=http://minio.storage:9000

``load_settings`` turns a ``ValidationError`` into ``SettingsError`` whose message names the
environment variable and the valid range.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from glue.artifacts.settings import ArtifactSettings
from glue.model_registry.schemas import DNS1123_LABEL, DNS1123_SUBDOMAIN

ENV_PREFIX = "KUBEAI_CONTROLLER_"
#: A label key: optional DNS subdomain prefix and ``/``, then a name of 1-63 characters
#: (Kubernetes ``IsQualifiedName``, k8s.io/apimachinery/pkg/util/validation).
LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"

Label = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS1123_LABEL)]
Identity = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9._:-]+$")
]


class SettingsError(ValueError):
    """A setting is invalid; the message names its environment variable."""


def _default_identity() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname() or "kubeai-controller"


class ControllerSettings(BaseSettings):
    """Configuration of the lifecycle controller (env prefix ``KUBEAI_CONTROLLER_``).

    Fields:
        registry_url: registry base URL, ``http(s)://host[:port]``.
        registry_token_file: bearer token for the registry, re-read when it changes (the
            projected ServiceAccount token with audience ``kubeai-registry``); None: none.
        registry_ca_file: CA bundle of the registry's TLS certificate; None: the system's.
        registry_timeout: seconds per registry request (0.1..300).
        team_label: the namespace label naming the team; the controller acts only in
            namespaces carrying it, and the team is its value.
        lease_name / lease_namespace: the coordination.k8s.io/v1 Lease of leader election;
            the namespace defaults to ``$POD_NAMESPACE`` and must be set one way or the other.
        identity: this replica's name in the Lease (default ``$POD_NAME``, else the hostname).
        lease_duration: seconds a leader's Lease is valid without renewal (2..300).
        renew_period: seconds between renewals and between attempts to acquire (0.1..60,
            less than a third of ``lease_duration``, so two renewals can fail before expiry).
        metrics_port: port of Prometheus ``/metrics`` (0..65535; 0 turns it off).
        health_port: port of ``/healthz`` (0..65535; 0 turns it off).
        bind_address: address both endpoints bind (``0.0.0.0`` in a pod).
        artifact_root: URI below which jobs without ``kubeai.dev/artifact-uri`` write
            (``<root>/teams/<team>/models/<model>/jobs/<uid>``); default ``file://`` +
            ``artifacts.local_root``.
        retry_initial / retry_max: seconds before the first retry when the registry or storage
            is down, and the cap; the delay doubles per attempt (1..3600, initial <= max).
        dataset_retries: attempts while the registry does not know the job's dataset yet (the
            dataset handler records it), before the registration is refused (1..1000).
        log_level: DEBUG, INFO, WARNING or ERROR.
        artifacts: the artifact store (``KUBEAI_CONTROLLER_ARTIFACTS__*``).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    registry_url: str
    registry_token_file: Path | None = None
    registry_ca_file: Path | None = None
    registry_timeout: float = Field(default=30.0, ge=0.1, le=300)
    team_label: str = Field(default="kubeai.dev/team", max_length=316, pattern=LABEL_KEY)
    lease_name: Annotated[
        str, StringConstraints(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN)
    ] = "kubeai-controller"
    lease_namespace: Label = Field(
        default_factory=lambda: os.environ.get("POD_NAMESPACE", ""), validate_default=True
    )
    identity: Identity = Field(default_factory=_default_identity, validate_default=True)
    lease_duration: float = Field(default=15.0, ge=2, le=300)
    renew_period: float = Field(default=2.0, ge=0.1, le=60)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    health_port: int = Field(default=8080, ge=0, le=65535)
    bind_address: str = "0.0.0.0"  # noqa: S104 - probes and scrapes come from outside the pod
    artifact_root: str | None = None
    retry_initial: float = Field(default=5.0, ge=1, le=3600)
    retry_max: float = Field(default=300.0, ge=1, le=3600)
    dataset_retries: int = Field(default=20, ge=1, le=1000)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)

    @field_validator("registry_url")
    @classmethod
    def _registry_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/?#\s]+/?", value):
            raise ValueError(
                f"{value!r} must be http(s)://host[:port] without a path, query or fragment"
            )
        return value.rstrip("/")

    @field_validator("registry_token_file", "registry_ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ControllerSettings:
        if self.retry_initial > self.retry_max:
            raise ValueError(
                f"retry_initial ({self.retry_initial}) must be <= retry_max ({self.retry_max})"
            )
        if self.renew_period * 3 > self.lease_duration:
            raise ValueError(
                f"renew_period ({self.renew_period}) must be at most a third of lease_duration "
                f"({self.lease_duration})"
            )
        return self

    @property
    def root_uri(self) -> str:
        """The artifact root of the output convention (``artifact_root`` or ``file://`` of the
        store's ``local_root``)."""
        if self.artifact_root:
            return self.artifact_root.rstrip("/")
        return "file://" + Path(os.path.realpath(self.artifacts.local_root)).as_posix()


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a validation error's ``loc``: ``("artifacts", "s3",
    "endpoint_url")`` -> ``KUBEAI_CONTROLLER_ARTIFACTS__S3__ENDPOINT_URL``."""
    parts = [str(p).upper() for p in loc if not isinstance(p, int)]
    return ENV_PREFIX + "__".join(parts) if parts else ENV_PREFIX + "*"


def load_settings() -> ControllerSettings:
    """``ControllerSettings`` from the environment; ``SettingsError`` naming the variable.

    A missing ``lease_namespace`` (neither ``KUBEAI_CONTROLLER_LEASE_NAMESPACE`` nor
    ``POD_NAMESPACE``) is refused here too.
    """
    try:
        settings = ControllerSettings()
    except ValidationError as exc:
        lines = [f"{env_name(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise SettingsError("; ".join(lines)) from None
    return settings
