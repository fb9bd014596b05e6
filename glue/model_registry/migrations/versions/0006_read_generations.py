"""generation counters of models and inference services (ETags and long-polls of the read path)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """``models.generation`` and ``inference_services.generation`` (BIGINT, 0)."""
    for table in ("models", "inference_services"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column("generation", sa.BigInteger(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    """Drop both counters."""
    for table in ("inference_services", "models"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("generation")
