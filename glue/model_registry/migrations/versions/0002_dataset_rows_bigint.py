"""dataset rows as 64-bit integers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Widen ``datasets.rows`` to BIGINT (datasets may hold more than 2**31 rows)."""
    with op.batch_alter_table("datasets") as batch_op:
        batch_op.alter_column("rows", existing_type=sa.Integer(), type_=sa.BigInteger())


def downgrade() -> None:
    """Narrow ``datasets.rows`` back to INTEGER."""
    with op.batch_alter_table("datasets") as batch_op:
        batch_op.alter_column("rows", existing_type=sa.BigInteger(), type_=sa.Integer())
