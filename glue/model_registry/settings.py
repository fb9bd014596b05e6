"""Settings of the registry service (one pydantic-settings class, env prefix ``KUBEAI_REGISTRY_``).

Nested values use ``__``: ``KUBEAI_REGISTRY_ARTIFACTS__LOCAL_ROOT=/data/artifacts``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from glue.artifacts.settings import ArtifactSettings
from glue.model_registry import artifact_scope
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
        artifact_team_prefixes: URI templates of where each team's artifacts live, e.g.
            ``["s3://kubeai-artifacts/teams/{team}/", "{local_root}/teams/{team}/"]``
            (``{team}`` once, as a whole path segment; ``{local_root}`` is ``file://`` +
            ``artifacts.local_root``). When set, a version's ``artifact_uri`` and a dataset's
            ``uri`` must lie below one of them rendered for the path's team (422 naming
            ``body.artifact_uri`` / ``body.uri``), so no team records another team's files.
            Empty (the default): no team scoping (the URI is only checked against
            ``artifacts``). The kubeai-glue chart sets it.
        read_cache_size: answers of the agents' read path (desired states, versions by alias)
            each process keeps, computed once per change (``glue.model_registry.readpath``).
        long_poll_max_seconds: the longest a read-path request is held (seconds): a larger
            ``wait`` is taken as this one (a negative, nan or inf one is a 422 naming
            ``query.wait``); 0 turns long-polls off (every request is answered at once).
        long_poll_check_seconds: while long-polls wait, how often each process re-reads their
            generation counters (one query for all of them): how soon a write made through
            another worker or replica wakes them. A write through the same process wakes them
            at once.
        long_poll_max_waiters: long-polls one process holds at once; beyond that a request is
            answered at once, as without ``wait``.
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
    artifact_team_prefixes: list[str] = Field(default_factory=list, max_length=16)
    read_cache_size: int = Field(default=10_000, ge=1, le=1_000_000)
    long_poll_max_seconds: float = Field(default=60.0, ge=0, le=3600)
    long_poll_check_seconds: float = Field(default=0.05, ge=0.005, le=10)
    long_poll_max_waiters: int = Field(default=10_000, ge=0, le=1_000_000)

    @field_validator("artifact_team_prefixes")
    @classmethod
    def _templates(cls, value: list[str]) -> list[str]:
        return [artifact_scope.check_template(t) for t in value]

    def team_prefixes(self, team: str) -> list[str]:
        """``artifact_team_prefixes`` rendered for ``team`` (empty: no scoping)."""
        root = Path(self.artifacts.local_root).resolve()
        return artifact_scope.render(self.artifact_team_prefixes, team=team, local_root=root)

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
