"""cleared canaries of service assignments, per-version traffic samples of pods

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """``service_assignments.canary_cleared_{version,reason,at}`` and ``traffic_samples``."""
    with op.batch_alter_table("service_assignments") as batch_op:
        batch_op.add_column(sa.Column("canary_cleared_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("canary_cleared_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("canary_cleared_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "traffic_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("pod", sa.String(length=253), nullable=False),
        sa.Column("model", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("success", sa.BigInteger(), nullable=False),
        sa.Column("failure", sa.BigInteger(), nullable=False),
        sa.Column("duration_us", sa.BigInteger(), nullable=False),
        sa.Column("p99_us", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["inference_services.id"],
            name=op.f("fk_traffic_samples_service_id_inference_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_samples")),
    )
    op.create_index(
        "ix_traffic_samples_service_model_at", "traffic_samples", ["service_id", "model", "at"]
    )
    op.create_index(
        "ix_traffic_samples_service_pod_at", "traffic_samples", ["service_id", "pod", "at"]
    )


def downgrade() -> None:
    """Drop ``traffic_samples`` and the cleared-canary columns."""
    op.drop_index("ix_traffic_samples_service_pod_at", table_name="traffic_samples")
    op.drop_index("ix_traffic_samples_service_model_at", table_name="traffic_samples")
    op.drop_table("traffic_samples")
    with op.batch_alter_table("service_assignments") as batch_op:
        batch_op.drop_column("canary_cleared_at")
        batch_op.drop_column("canary_cleared_reason")
        batch_op.drop_column("canary_cleared_version")
