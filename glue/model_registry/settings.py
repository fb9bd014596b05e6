"""Settings of the registry service (one pydantic-settings class, env prefix ``KUBEAI_REGISTRY_``).

Nested values use ``__``: ``KUBEAI_REGISTRY_ARTIFACTS__LOCAL_ROOT=/data/artifacts``.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from glue.artifacts.settings import ArtifactSettings
from glue.model_registry.auth.settings import AuthSettings


class RegistrySettings(BaseSettings):
    """Registry configuration.

    Attributes:
        database_url: SQLAlchemy URL; ``sqlite:///.kubeai/registry.db`` (embedded default) or
            ``postgresql+psycopg://user:pass@host:5432/db``.
        artifacts: artifact store settings used to read config.pbtxt at registration.
        auth: authentication (Kubernetes TokenReview, OIDC, static tokens) and the team role
            bindings (``glue.model_registry.auth.settings.AuthSettings``); with no
            authenticator the registry is open and serves loopback only.
        verify_config: check each version's stored artifact at registration (listing and sizes
            equal the manifest, sha256s, config.pbtxt layout rules, signature).
        max_body_bytes: request bodies larger than this are refused with 413 (bytes); the
            default 4 MiB holds a manifest of the maximum 10,000 files.
        max_page_size: largest ``limit`` a list accepts.
        migrate_on_start: run Alembic migrations when the app starts.
        observed_ttl_seconds: a pod's report older than this is *stale* (agents report every
            poll interval; a pod that stopped reporting is gone): stale pods are left out of
            ``/deployments`` and flagged in service status. 0 keeps reports forever.
    """

    model_config = SettingsConfigDict(
        env_prefix="KUBEAI_REGISTRY_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = "sqlite:///.kubeai/registry.db"
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    verify_config: bool = True
    max_body_bytes: int = Field(default=4 << 20, ge=1024, le=64 << 20)
    max_page_size: int = Field(default=500, ge=1, le=10_000)
    migrate_on_start: bool = True
    observed_ttl_seconds: float = Field(default=120.0, ge=0, le=86_400)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                "database_url must start with sqlite:// or postgresql+psycopg:// "
                f"(got {value.split('://', 1)[0]!r})"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value
