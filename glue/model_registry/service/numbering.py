"""Version numbering: each registration's counter bump, version row and audit event, written
atomically, with the concurrent registrations of one process written together (group commit).

The contended case is many registrations of ONE model at once: every one must bump the model's
counter (``models.latest_version``) under its lock. Threads of a process hand their write to
``GroupCommit``: the first becomes the leader and writes everything queued in one transaction
(``write_batch``: per model one ``UPDATE ... SET latest_version = latest_version + k RETURNING``,
one multi-row INSERT of versions, one of audit events, one COMMIT), then hands the lead to the
next waiting thread. So the lock is taken once per batch instead of once per registration, and
at most one transaction per process queues for it. A batch with nothing else queued is written
alone (``write_one``: one statement on PostgreSQL). If a batch fails (a source uid registered
meanwhile by another process), each of its registrations is written alone, so one failure
never fails another, and a failed write uses no number.

On a SQLite file the leaders of several processes (``--workers N``) take turns through
``WriterTurn``, an exclusive ``flock`` on a file next to the database, before ``BEGIN IMMEDIATE``:
SQLite's own wait for its write lock is a busy handler that sleeps 1, 2, 5 ... 100 ms between
attempts, so a process that lost the race slept while the others took the lock again and again
(a whole worker's queued registrations stalled for up to a second); the kernel wakes the next
``flock`` waiter as soon as the lock is released. The busy timeout still covers writers that
do not take the turn (other routes, other tools).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    bindparam,
    cast,
    insert,
    literal,
    select,
    update,
)

from glue.model_registry import models as orm
from glue.model_registry.db import Database

if sys.platform != "win32":
    import fcntl


@dataclass(eq=False)
class Pending:
    """One registration's write: the version row (every column but ``version``), its audit event
    (every column but ``resource``) and the audit resource's prefix (the number is appended).

    ``number`` is set once written (None: the model does not exist), ``error`` if the write
    failed.
    """

    version: dict[str, Any]
    event: dict[str, Any]
    resource_prefix: str
    number: int | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False

    @property
    def model_id(self) -> int:
        """The model the version belongs to."""
        return int(self.version["model_id"])

    @property
    def key(self) -> tuple[int, str]:
        """``(model_id, source_uid)``: unique among versions."""
        return self.model_id, str(self.version["source_uid"])


def _typed(table: FromClause, values: dict[str, Any]) -> list[ColumnElement[Any]]:
    """``values`` as bound parameters cast to their columns' types (INSERT ... SELECT needs the
    types: PostgreSQL would read an untyped parameter as text, which no JSON column accepts)."""
    return [
        cast(bindparam(None, v, type_=table.c[k].type), table.c[k].type) for k, v in values.items()
    ]


def insert_version_statement(pending: Pending) -> Select[Any]:
    """PostgreSQL: bump the counter, insert the version and its audit event in ONE statement.

    ``WITH n AS (UPDATE models ... RETURNING latest_version), v AS (INSERT INTO model_versions
    ... SELECT ... FROM n RETURNING version), a AS (INSERT INTO audit_events ... FROM v) SELECT
    version FROM v``. Run outside an explicit transaction, the model's row lock is held only
    while the server executes it (no client round trip, no Python code in between). Yields no
    row when the model does not exist; a reused source uid fails the whole statement
    (``IntegrityError``), leaving the counter untouched.
    """
    fields = {k: v for k, v in pending.version.items() if k != "model_id"}
    counter = (
        update(orm.Model)
        .where(orm.Model.id == pending.model_id)
        .values(latest_version=orm.Model.latest_version + 1)
        .returning(orm.Model.id, orm.Model.latest_version)
        .cte("n")
    )
    inserted = (
        insert(orm.ModelVersion)
        .from_select(
            ["model_id", "version", *fields],
            select(
                counter.c.id,
                counter.c.latest_version,
                *_typed(orm.ModelVersion.__table__, fields),
            ),
        )
        .returning(orm.ModelVersion.version)
        .cte("v")
    )
    resource = literal(pending.resource_prefix, String) + cast(inserted.c.version, String)
    audited = (
        insert(orm.AuditEvent)
        .from_select(
            [*pending.event, "resource"],
            select(*_typed(orm.AuditEvent.__table__, pending.event), resource).select_from(
                inserted
            ),
        )
        .cte("a")
    )
    return select(inserted.c.version).add_cte(audited)


def write_one(db: Database, pending: Pending) -> int | None:
    """Write one registration; returns its number (None: the model does not exist).

    PostgreSQL: ``insert_version_statement`` in autocommit. SQLite: ``BEGIN IMMEDIATE`` (the
    database's write lock), counter ``UPDATE ... RETURNING``, two INSERTs, COMMIT. Raises
    ``IntegrityError`` when the source uid is already registered (nothing written).
    """
    if db.backend == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            number: int | None = connection.execute(insert_version_statement(pending)).scalar()
            return number
    return _write_together(db, [pending])[0]


def _write_together(db: Database, batch: list[Pending]) -> list[int | None]:
    """One transaction: per model (in id order, so concurrent batches lock rows in one order)
    one counter bump by its number of registrations, one multi-row INSERT of versions, one of
    audit events. Returns the numbers in ``batch`` order (None where the model is missing)."""
    numbers: dict[int, int | None] = {}
    with db.writing() as session:
        for model_id in sorted({p.model_id for p in batch}):
            group = [p for p in batch if p.model_id == model_id]
            top = session.execute(
                update(orm.Model)
                .where(orm.Model.id == model_id)
                .values(latest_version=orm.Model.latest_version + len(group))
                .returning(orm.Model.latest_version)
            ).scalar()
            if top is None:
                numbers.update({id(p): None for p in group})
                continue
            first = top - len(group) + 1
            numbers.update({id(p): first + i for i, p in enumerate(group)})
            session.execute(
                insert(orm.ModelVersion),
                [{**p.version, "version": first + i} for i, p in enumerate(group)],
            )
            session.execute(
                insert(orm.AuditEvent),
                [
                    {**p.event, "resource": f"{p.resource_prefix}{first + i}"}
                    for i, p in enumerate(group)
                ],
            )
    return [numbers[id(p)] for p in batch]


def write_batch(db: Database, batch: list[Pending]) -> None:
    """Write ``batch``, setting ``number`` or ``error`` on each of its registrations.

    Alone: ``write_one``. Together: ``_write_together`` for the first registration of each
    source uid; if that transaction fails (e.g. ``IntegrityError``: a uid registered meanwhile
    by another process), and for repeats of a uid within the batch, each is written alone.
    Never raises.
    """
    if len(batch) == 1:
        alone = batch
    else:
        seen: set[tuple[int, str]] = set()
        firsts = []
        for p in batch:
            if p.key not in seen:
                seen.add(p.key)
                firsts.append(p)
        alone = [p for p in batch if p not in firsts]
        try:
            for p, number in zip(firsts, _write_together(db, firsts), strict=True):
                p.number = number
        except Exception:
            alone = batch
    for p in alone:
        try:
            p.number = write_one(db, p)
        except Exception as exc:  # handed to the registering thread, raised there
            p.error = exc


#: Suffix of the lock file next to a SQLite database that its writing processes take turns on.
WRITER_LOCK_SUFFIX = "-writer.lock"


class WriterTurn:
    """Cross-process turns at writing one SQLite database file: ``hold()`` is an exclusive
    ``fcntl.flock`` on ``<database>-writer.lock`` (created when missing), released when the
    block ends or the process dies. Taken by one thread of a process at a time (the group
    commit's leader). A no-op for PostgreSQL, in-memory databases and where ``fcntl`` is missing.
    """

    def __init__(self, db: Database) -> None:
        database = db.engine.url.database if db.backend == "sqlite" else None
        if sys.platform == "win32":  # pragma: no cover - no flock
            database = None
        self._path = (
            Path(database + WRITER_LOCK_SUFFIX) if database and database != ":memory:" else None
        )
        self._fd: int | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for this process's turn (other processes' turns end first), keep it in the block.
        A lock file that cannot be created (a read-only directory) leaves the waiting to
        SQLite's busy handler, as without turns."""
        if self._path is not None and self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._path = None
        if self._fd is None or sys.platform == "win32":
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (a later ``hold`` opens it again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class GroupCommit:
    """The write queue of one process and database: ``submit`` returns when the registration is
    written, having been written by this thread (the leader) or by another with its batch."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._mutex = threading.Lock()
        self._queue: list[Pending] = []
        self._writing = False
        self._turn = WriterTurn(db)

    def __del__(self) -> None:
        self._turn.close()

    def submit(self, pending: Pending) -> int | None:
        """Queue ``pending`` and wait until written; returns its number (None: no such model).
        Raises the write's error (``IntegrityError`` for a source uid registered meanwhile)."""
        with self._mutex:
            self._queue.append(pending)
            pending.lead = not self._writing
            self._writing = True
        if not pending.lead:
            pending.done.wait()
        if pending.lead:
            self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.number

    def _lead(self) -> None:
        with self._mutex:
            batch, self._queue = self._queue, []
        try:
            with self._turn.hold():
                write_batch(self._db, batch)
        finally:
            with self._mutex:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._writing = False
            for p in batch:
                p.lead = False
                p.done.set()


_QUEUES: WeakKeyDictionary[Database, GroupCommit] = WeakKeyDictionary()
_QUEUES_LOCK = threading.Lock()


def number_and_insert(db: Database, pending: Pending) -> int | None:
    """Write ``pending`` through the process's ``GroupCommit`` of ``db``; returns its number
    (None: the model does not exist). Raises ``IntegrityError`` when its source uid is
    already registered (nothing of it written)."""
    with _QUEUES_LOCK:
        queue = _QUEUES.get(db)
        if queue is None:
            queue = _QUEUES[db] = GroupCommit(db)
    return queue.submit(pending)
