"""Group commit of version writes: numbers 1..N per model, repeats and lost races isolated."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from glue.model_registry import models as orm
from glue.model_registry.db import Database
from glue.model_registry.models import utcnow
from glue.model_registry.service import numbering
from glue.model_registry.service.numbering import (
    WRITER_LOCK_SUFFIX,
    GroupCommit,
    Pending,
    WriterTurn,
    write_batch,
)
from tests.glue.model_registry.conftest import Env


def _model_id(db: Database) -> int:
    with db.reading() as session:
        return session.scalars(select(orm.Model.id).where(orm.Model.name == "digits")).one()


def _pending(model_id: int, uid: str) -> Pending:
    at = utcnow()
    version = {
        "model_id": model_id,
        "created_at": at,
        "artifact_uri": f"file:///tmp/{uid}",
        "manifest": {"files": {}},
        "format": "triton-python",
        "signature": {"inputs": [], "outputs": []},
        "metrics": {},
        "params": {},
        "dataset_id": None,
        "source_kind": "PyTorchJob",
        "source_namespace": "cv",
        "source_name": f"train-{uid}",
        "source_uid": uid,
        "created_by": "test",
        "description": "",
    }
    event = {
        "at": at,
        "principal": "test",
        "method": "local",
        "team": "cv",
        "action": "version.register",
        "detail": {"source_uid": uid},
    }
    return Pending(version=version, event=event, resource_prefix="models/digits/versions/")


def _stored(db: Database) -> tuple[int, list[tuple[int, str]], list[str]]:
    with db.reading() as session:
        counter = session.scalars(select(orm.Model.latest_version)).one()
        versions = session.execute(
            select(orm.ModelVersion.version, orm.ModelVersion.source_uid).order_by(
                orm.ModelVersion.version
            )
        ).all()
        audits = session.scalars(select(orm.AuditEvent.resource).order_by(orm.AuditEvent.id))
        return counter, [tuple(v) for v in versions], [a for a in audits if "versions" in a]


def test_a_batch_numbers_in_order_and_isolates_a_repeated_uid(
    two_registries: tuple[Env, Database, Database],
) -> None:
    _, db, _ = two_registries
    model = _model_id(db)
    batch = [_pending(model, "a"), _pending(model, "b"), _pending(model, "a")]
    write_batch(db, batch)
    assert [p.number for p in batch[:2]] == [1, 2]
    assert isinstance(batch[2].error, IntegrityError)
    assert _stored(db) == (
        2,
        [(1, "a"), (2, "b")],
        ["models/digits/versions/1", "models/digits/versions/2"],
    )


def test_a_batch_with_a_uid_registered_meanwhile_leaves_no_gap(
    two_registries: tuple[Env, Database, Database],
) -> None:
    """Another instance registered ``b`` first: the batch's transaction fails on it, so each is
    written alone: ``b`` fails, the others get the next numbers, and no number is skipped."""
    _, db, other = two_registries
    model = _model_id(db)
    write_batch(other, [_pending(model, "b")])
    batch = [_pending(model, "a"), _pending(model, "b"), _pending(model, "c")]
    write_batch(db, batch)
    assert (batch[0].number, batch[2].number) == (2, 3)
    assert isinstance(batch[1].error, IntegrityError) and batch[1].number is None
    counter, versions, audits = _stored(db)
    assert (counter, [v for v, _ in versions]) == (3, [1, 2, 3])
    assert len(audits) == 3


def test_a_missing_model_gets_no_number(two_registries: tuple[Env, Database, Database]) -> None:
    _, db, _ = two_registries
    model = _model_id(db)
    batch = [_pending(model + 1000, "x"), _pending(model, "y")]
    write_batch(db, batch)
    assert (batch[0].number, batch[0].error, batch[1].number) == (None, None, 1)


def test_queued_writes_go_in_one_batch(
    two_registries: tuple[Env, Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the leader writes, the others queue; the next leader writes them all at once."""
    _, db, _ = two_registries
    model = _model_id(db)
    queue = GroupCommit(db)
    sizes: list[int] = []
    queued = threading.Event()

    def recording(db_: Database, batch: list[Pending]) -> None:
        sizes.append(len(batch))
        if len(sizes) == 1:
            assert queued.wait(30)
        write_batch(db_, batch)

    monkeypatch.setattr(numbering, "write_batch", recording)
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(queue.submit, _pending(model, "u0"))
        while not sizes:
            time.sleep(0.01)
        rest = [pool.submit(queue.submit, _pending(model, f"u{i}")) for i in range(1, 8)]
        while len(queue._queue) < 7:
            time.sleep(0.01)
        queued.set()
        numbers = [first.result(30)] + [f.result(30) for f in rest]
    assert sizes == [1, 7]
    assert sorted(numbers) == list(range(1, 9))
    assert _stored(db)[0] == 8


def test_writer_turns_of_one_sqlite_file_exclude_each_other(tmp_path: Path) -> None:
    """Two turns on one database file (as two worker processes hold them: separate lock file
    descriptions): the second waits until the first ends, then gets its turn."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    first, second = Database(url), Database(url)
    try:
        a, b = WriterTurn(first), WriterTurn(second)
        events: list[str] = []
        with a.hold():
            waiter = threading.Thread(target=lambda: _hold_and_record(b, events))
            waiter.start()
            time.sleep(0.2)
            events.append("first ends")
        waiter.join(10)
        assert events == ["first ends", "second holds"]
        assert (tmp_path / f"registry.db{WRITER_LOCK_SUFFIX}").exists()
        a.close()
        b.close()
    finally:
        first.dispose()
        second.dispose()


def _hold_and_record(turn: WriterTurn, events: list[str]) -> None:
    with turn.hold():
        events.append("second holds")


def test_a_writer_turn_without_a_lock_file_leaves_waiting_to_sqlite(tmp_path: Path) -> None:
    """A lock file that cannot be created (the directory is gone or read-only) does not fail
    the write: the turn is skipped."""
    gone = Database(f"sqlite:///{tmp_path / 'db' / 'registry.db'}")
    try:
        (tmp_path / "db").rmdir()
        turn = WriterTurn(gone)
        with turn.hold():
            pass
        assert turn._fd is None
    finally:
        gone.dispose()


def test_group_commit_writes_under_the_writer_turn(
    two_registries: tuple[Env, Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader writes its batch inside the process's turn (SQLite: held; PostgreSQL: none)."""
    _, db, _ = two_registries
    model = _model_id(db)
    queue = GroupCommit(db)
    held: list[bool] = []
    hold = queue._turn.hold

    @contextmanager
    def recording() -> Iterator[None]:
        with hold():
            held.append(queue._turn._fd is not None)
            yield

    monkeypatch.setattr(queue._turn, "hold", recording)
    assert queue.submit(_pending(model, "t1")) == 1
    assert held == [db.backend == "sqlite"]
