"""Alembic environment: runs migrations on the connection handed in by glue.model_registry.db.

Without one (the ``alembic`` command line), it opens its own from the URL and takes the same
migration lock as ``glue.model_registry.db.upgrade``, so it never races a starting registry.
"""

from __future__ import annotations

from alembic import context

from glue.model_registry.db import make_engine, migration_transaction
from glue.model_registry.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Run migrations online, on the given connection or a fresh engine from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn, migration_transaction(conn):
            context.configure(
                connection=conn, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run()
