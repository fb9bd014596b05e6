"""datasets synced from Fluid Datasets: source, mounts, size, cache state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Nullable columns added to ``datasets`` (all null for a file dataset).
NEW_COLUMNS = (
    ("source_kind", sa.String(length=63)),
    ("source_api_version", sa.String(length=127)),
    ("source_namespace", sa.String(length=63)),
    ("source_name", sa.String(length=253)),
    ("source_uid", sa.String(length=128)),
    ("phase", sa.String(length=63)),
    ("size_bytes", sa.BigInteger()),
    ("file_count", sa.BigInteger()),
    ("cache", sa.JSON()),
    ("synced_at", sa.DateTime(timezone=True)),
    ("deleted_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    """The synced dataset's source, state columns and ``mounts`` (``[]`` for the datasets
    recorded so far); ``manifest`` and ``rows`` become nullable (a Fluid Dataset has neither)."""
    with op.batch_alter_table("datasets") as batch_op:
        for name, type_ in NEW_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.add_column(sa.Column("mounts", sa.JSON(), nullable=True))
        batch_op.alter_column("manifest", existing_type=sa.JSON(), nullable=True)
        batch_op.alter_column("rows", existing_type=sa.BigInteger(), nullable=True)
    op.execute(sa.text("UPDATE datasets SET mounts = '[]'"))
    with op.batch_alter_table("datasets") as batch_op:
        batch_op.alter_column("mounts", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    """Drop the synced datasets (they have no manifest; fails while a version refers to one)
    and their columns."""
    op.execute(sa.text("DELETE FROM datasets WHERE source_uid IS NOT NULL"))
    with op.batch_alter_table("datasets") as batch_op:
        batch_op.alter_column("rows", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("manifest", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("mounts")
        for name, _ in reversed(NEW_COLUMNS):
            batch_op.drop_column(name)
