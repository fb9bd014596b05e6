"""SQLAlchemy 2 ORM tables of the registry (SQLite by default, PostgreSQL in production).

Tables: ``models``, ``model_versions``, ``aliases``, ``alias_events`` (alias moves),
``datasets``, ``inference_services``, ``service_assignments`` (desired), ``observed_models``
(reported by serving agents), ``traffic_samples`` (per-version request counters the agents read
from Triton) and ``audit_events`` (every write, with its authenticated
principal). Models, datasets and services are named uniquely within their team. The schema
is created and migrated by Alembic (glue/model_registry/migrations), never by ``create_all``
in production code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: Longest principal name stored (``created_by``, ``actor``, audit ``principal``): a
#: ServiceAccount's ``system:serviceaccount:<namespace 63>:<name 253>`` is 339 characters.
MAX_PRINCIPAL = 512


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert aware values to UTC; refuse naive ones (``ValueError``)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values read from SQLite."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names (stable Alembic migrations)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class Model(Base):
    """A registered model. ``latest_version`` is the per-model version counter; ``generation``
    counts the alias moves (``service.generations``: with ``latest_version`` it tells whether
    a read of the model's versions or aliases may have changed)."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("team", "name", name="uq_models_team_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    team: Mapped[str] = mapped_column(String(63), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    task: Mapped[str] = mapped_column(String(256), default="")
    framework: Mapped[str] = mapped_column(String(256), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    aliases: Mapped[list[Alias]] = relationship(back_populates="model", lazy="selectin")


class Dataset(Base):
    """A recorded dataset (lineage target of model versions)."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("team", "name", name="uq_datasets_team_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    team: Mapped[str] = mapped_column(String(63), index=True)
    uri: Mapped[str] = mapped_column(String(2048))
    #: Null for a dataset synced from a Fluid Dataset (no file manifest, no row count).
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The Fluid Dataset a synced record mirrors (all null for a file dataset) and its state.
    source_kind: Mapped[str | None] = mapped_column(String(63), nullable=True)
    source_api_version: Mapped[str | None] = mapped_column(String(127), nullable=True)
    source_namespace: Mapped[str | None] = mapped_column(String(63), nullable=True)
    source_name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    source_uid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    mounts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    phase: Mapped[str | None] = mapped_column(String(63), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    file_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cache: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ModelVersion(Base):
    """One immutable version of a model with its artifact, signature and lineage."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
        UniqueConstraint("model_id", "source_uid", name="uq_model_versions_model_source_uid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    artifact_uri: Mapped[str] = mapped_column(String(2048))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    format: Mapped[str] = mapped_column(String(64))
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), nullable=True)
    source_kind: Mapped[str] = mapped_column(String(63))
    source_namespace: Mapped[str] = mapped_column(String(63))
    source_name: Mapped[str] = mapped_column(String(253))
    source_uid: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(MAX_PRINCIPAL), default="")
    description: Mapped[str] = mapped_column(Text, default="")

    model: Mapped[Model] = relationship(lazy="joined")
    dataset: Mapped[Dataset | None] = relationship(lazy="joined")


class Alias(Base):
    """A named pointer (``production``...) to one version; unique per model."""

    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("model_id", "name", name="uq_aliases_model_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship(back_populates="aliases")
    version: Mapped[ModelVersion] = relationship(lazy="joined")


class AliasEvent(Base):
    """Audit log entry of one alias move (versions by number; None = alias did not exist)."""

    __tablename__ = "alias_events"
    __table_args__ = (Index("ix_alias_events_model_alias", "model_id", "alias", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(63))
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(MAX_PRINCIPAL), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class InferenceService(Base):
    """An inference service (its infrastructure is owned by Pulumi, its models by the registry).

    ``service_account``: the ServiceAccount its pods (serving agents) run as; when set, only
    that account may report the service's pods. ``generation`` is bumped by every write that
    can change what its pods are told to serve (``service.generations``).
    """

    __tablename__ = "inference_services"
    __table_args__ = (UniqueConstraint("team", "name", name="uq_inference_services_team_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    team: Mapped[str] = mapped_column(String(63), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    service_account: Mapped[str | None] = mapped_column(String(253), nullable=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    assignments: Mapped[list[ServiceAssignment]] = relationship(
        back_populates="service",
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="ServiceAssignment.id",
    )


class ServiceAssignment(Base):
    """Desired model of a service: exact ``version`` or ``alias``, optional canary.

    ``canary_cleared_*`` record the last canary taken away without a person replacing it (the
    primary moved to or past it, or a gate rolled it back): which version, why and when; they
    are reset when a new canary is set.
    """

    __tablename__ = "service_assignments"
    __table_args__ = (
        UniqueConstraint("service_id", "model_id", name="uq_service_assignments_service_model"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("inference_services.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    alias: Mapped[str | None] = mapped_column(String(63), nullable=True)
    canary_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    canary_cleared_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_cleared_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    canary_cleared_at: Mapped[datetime | None] = mapped_column(nullable=True)

    service: Mapped[InferenceService] = relationship(back_populates="assignments")
    model: Mapped[Model] = relationship(lazy="joined")


class ObservedModel(Base):
    """What one pod of a service reported for one model version (replaced per report)."""

    __tablename__ = "observed_models"
    __table_args__ = (
        UniqueConstraint(
            "service_id", "pod", "model", "version", name="uq_observed_models_pod_model_version"
        ),
        Index("ix_observed_models_model_version", "model", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("inference_services.id", ondelete="CASCADE"))
    pod: Mapped[str] = mapped_column(String(253))
    model: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)

    service: Mapped[InferenceService] = relationship(lazy="joined")


class TrafficSample(Base):
    """One pod's cumulative request counters of one model version, as Triton exported them when
    the pod reported (``at``: the registry's clock). Counters restart at 0 when Triton restarts
    or reloads the version; readers treat a decrease as a reset."""

    __tablename__ = "traffic_samples"
    __table_args__ = (
        Index("ix_traffic_samples_service_model_at", "service_id", "model", "at"),
        Index("ix_traffic_samples_service_pod_at", "service_id", "pod", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("inference_services.id", ondelete="CASCADE"))
    pod: Mapped[str] = mapped_column(String(253))
    model: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    success: Mapped[int] = mapped_column(BigInteger)
    failure: Mapped[int] = mapped_column(BigInteger)
    duration_us: Mapped[int] = mapped_column(BigInteger)
    p99_us: Mapped[float | None] = mapped_column(Float, nullable=True)


class AuditEvent(Base):
    """One write, with the authenticated principal that made it (never client-supplied text).

    ``action`` is ``<resource>.<verb>`` (``version.register``, ``alias.set``...), ``resource``
    the API path of the object written, ``detail`` what changed.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_team_id", "team", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    principal: Mapped[str] = mapped_column(String(MAX_PRINCIPAL))
    method: Mapped[str] = mapped_column(String(16))
    team: Mapped[str] = mapped_column(String(63))
    action: Mapped[str] = mapped_column(String(63))
    resource: Mapped[str] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
