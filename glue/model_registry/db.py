"""Database engine, sessions and migrations of the registry.

SQLite (the embedded default) runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the database lock instead of failing when a
read transaction upgrades. PostgreSQL (``postgresql+psycopg://...``) uses row locks: the
per-model version counter is bumped with ``UPDATE ... RETURNING`` inside the registering
transaction, so allocations are atomic on both.

Migrations run once however many replicas start together: ``upgrade`` holds a database-wide lock
for the whole Alembic run (PostgreSQL: the transaction-scoped advisory lock
``pg_advisory_xact_lock(MIGRATION_LOCK_KEY)``; SQLite: the writer lock, taken by
``BEGIN IMMEDIATE``), so a second replica waits, then finds the schema at head and does nothing.
Its failures say what happened: ``DatabaseUnreachable`` (no connection) or ``MigrationFailed``
(connected, the upgrade failed), each with the reason.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
_WRITE = "kubeai_write"

#: Key of the PostgreSQL advisory lock migrations hold (a fixed bigint: the bytes of "kubeaimg").
MIGRATION_LOCK_KEY = int.from_bytes(b"kubeaimg", "big")


class DatabaseError(Exception):
    """The registry's database could not be prepared.

    Attributes:
        where: the database URL with the password hidden.
        reason: the first line of the driver's (or Alembic's) message.
    """

    def __init__(self, message: str, *, where: str, reason: str) -> None:
        super().__init__(message)
        self.where = where
        self.reason = reason


class DatabaseUnreachable(DatabaseError):  # noqa: N818 - reads as a state in `except` clauses
    """No connection to the database could be opened (host down, wrong credentials, no file)."""


class MigrationFailed(DatabaseError):  # noqa: N818 - reads as a state in `except` clauses
    """Connected, but bringing the schema to the wanted revision failed (the reason says why)."""


def _reason(exc: BaseException) -> str:
    """First non-empty line of the driver's message (SQLAlchemy's wrapper text dropped)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def make_engine(url: str, *, sqlite_busy_timeout_ms: int = 30_000, pool_size: int = 10) -> Engine:
    """Create an engine for ``url`` (``sqlite:///path.db`` or ``postgresql+psycopg://...``).

    For SQLite the parent directory of the file is created. Raises ``sqlalchemy.exc.ArgumentError``
    for a malformed URL.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout_ms / 1000},
            pool_size=pool_size,
            max_overflow=pool_size * 2,
        )
        _configure_sqlite(engine, sqlite_busy_timeout_ms)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


def _enable_wal(cursor: Any, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to ``timeout`` s while the file is locked.

    Switching a new file to WAL needs its exclusive lock and answers "database is locked"
    without waiting when another process holds it (several replicas or workers opening a new
    database at once); the busy timeout does not cover it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit BEGIN cannot be IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        _enable_wal(cursor, busy_timeout_ms / 1000)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """Engine plus read and write session factories for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads (rolled back at the end)."""
        with self._read() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        with self._write() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent, once under a lock).

        Raises ``DatabaseUnreachable`` or ``MigrationFailed`` (see ``upgrade``).
        """
        upgrade(self.url, engine=self.engine)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """Alembic ``Config`` pointing at the packaged migrations for ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def migration_transaction(connection: Connection) -> Iterator[None]:
    """A transaction on ``connection`` holding the database-wide migration lock until it ends.

    PostgreSQL: ``pg_advisory_xact_lock(MIGRATION_LOCK_KEY)`` as its first statement; SQLite:
    ``BEGIN IMMEDIATE`` (the writer lock; needs an engine from ``make_engine``). Committed when
    the block ends, rolled back on an exception; the lock goes with the transaction. Raises
    ``sqlalchemy.exc.SQLAlchemyError`` if the lock cannot be taken.
    """
    if connection.dialect.name == "sqlite":
        connection.execution_options(**{_WRITE: True})
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        yield


def upgrade(url: str, *, engine: Engine | None = None, revision: str = "head") -> None:
    """Run Alembic migrations on ``url`` up to ``revision``, holding the migration lock.

    The whole run is one transaction that first takes the database-wide lock (PostgreSQL:
    ``pg_advisory_xact_lock(MIGRATION_LOCK_KEY)``; SQLite: ``BEGIN IMMEDIATE``, the writer
    lock, waited for up to the busy timeout); committing releases it. Concurrent callers
    therefore migrate one after the other, and the later ones find the schema current.

    Raises ``DatabaseUnreachable`` when no connection can be opened, ``MigrationFailed`` when
    the lock or the upgrade fails (e.g. the database holds a revision these migrations do not
    know); both name the database (password hidden) and the reason.
    """
    config = alembic_config(url)
    own = engine is None
    engine = engine or make_engine(url)
    where = make_url(url).render_as_string(hide_password=True)
    try:
        try:
            connection = engine.connect()
        except SQLAlchemyError as exc:
            reason = _reason(exc)
            raise DatabaseUnreachable(
                f"cannot reach the database {where}: {reason}", where=where, reason=reason
            ) from exc
        with connection:
            try:
                with migration_transaction(connection):
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
            except (SQLAlchemyError, CommandError) as exc:
                reason = _reason(exc)
                raise MigrationFailed(
                    f"migrating the database {where} to revision {revision!r} failed: {reason}",
                    where=where,
                    reason=reason,
                ) from exc
    finally:
        if own:
            engine.dispose()
