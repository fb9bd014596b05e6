"""team-scoped names, service accounts of services, audit log of every write

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Columns holding an authenticated principal's name, widened to 512 (a ServiceAccount's name
#: reaches 339 characters).
PRINCIPAL_COLUMNS = (("model_versions", "created_by"), ("alias_events", "actor"))
#: Tables whose names become unique per team instead of registry-wide.
TEAM_SCOPED = ("models", "datasets", "inference_services")


def upgrade() -> None:
    """Names unique per (team, name); ``inference_services.service_account``; principal
    columns of 512 characters; ``audit_events``."""
    for table in TEAM_SCOPED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_name", type_="unique")
            batch_op.create_unique_constraint(f"uq_{table}_team_name", ["team", "name"])
    with op.batch_alter_table("inference_services") as batch_op:
        batch_op.add_column(sa.Column("service_account", sa.String(length=253), nullable=True))
    for table, column in PRINCIPAL_COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(256), type_=sa.String(512))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal", sa.String(length=512), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("action", sa.String(length=63), nullable=False),
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_team_id", "audit_events", ["team", "id"])


def downgrade() -> None:
    """Back to registry-wide names (fails if two teams now share a name) and no audit log."""
    op.drop_index("ix_audit_events_team_id", table_name="audit_events")
    op.drop_table("audit_events")
    with op.batch_alter_table("inference_services") as batch_op:
        batch_op.drop_column("service_account")
    for table, column in PRINCIPAL_COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(512), type_=sa.String(256))
    for table in TEAM_SCOPED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_team_name", type_="unique")
            batch_op.create_unique_constraint(f"uq_{table}_name", ["name"])
