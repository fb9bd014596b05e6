"""Migrations and the models agree, on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from glue.model_registry.db import Database, DatabaseUnreachable, MigrationFailed, alembic_config
from glue.model_registry.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'r.db'}"


def test_migrations_match_models(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()  # idempotent
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


def _generation_triggers(db: Database) -> set[str]:
    query = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        if db.backend == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    )
    with db.engine.connect() as conn:
        return {name for name in conn.scalars(text(query)) if name.startswith("kubeai_generation")}


def test_the_generation_triggers_come_and_go_with_revision_0006(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    assert {"kubeai_generation_aliases", "kubeai_generation_observed_models_insert"} & (
        _generation_triggers(db)
    )
    command.downgrade(alembic_config(database_url), "0005")
    assert _generation_triggers(db) == set()
    db.migrate()  # and back up: created again
    assert _generation_triggers(db)
    db.dispose()


# -- concurrent migrations (registry replicas starting together) -------------------------------

#: Processes migrating one empty database at once, and how many fresh databases they race on.
#: Before the migration lock, 4 processes on an empty PostgreSQL failed in 5 of 8 runs
#: (``duplicate key value violates unique constraint "pg_type_typname_nsp_index"``).
RACERS = 4
ROUNDS = 10


def _migrate_each(barrier: Any, urls: list[str], results: Any) -> None:
    """One racer (a spawned process): for each URL, wait for the others, migrate, put
    ``(url, outcome)``."""
    for url in urls:
        db = Database(url)
        try:
            barrier.wait(timeout=120)
            db.migrate()
            results.put((url, "ok"))
        except Exception as exc:
            results.put((url, f"{type(exc).__name__}: {exc}"))
        finally:
            db.dispose()


def race(urls: list[str]) -> dict[str, list[str]]:
    """``RACERS`` processes migrate each of ``urls`` at the same moment; outcomes per URL."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RACERS), context.Queue()
    racers = [
        context.Process(target=_migrate_each, args=(barrier, urls, results)) for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    outcomes: dict[str, list[str]] = {url: [] for url in urls}
    for _ in range(RACERS * len(urls)):
        url, outcome = results.get(timeout=300)
        outcomes[url].append(outcome)
    for racer in racers:
        racer.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_migrations_of_an_empty_database_all_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        urls = [server.create_database("race") for _ in range(ROUNDS)]
    else:
        urls = [f"sqlite:///{tmp_path / f'race{n}.db'}" for n in range(ROUNDS)]
    assert race(urls) == {url: ["ok"] * RACERS for url in urls}
    for url in urls:
        db = Database(url)
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        db.dispose()


def test_unreachable_and_failed_migration_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "r.db").mkdir()  # a directory where the database file should be
    with pytest.raises(DatabaseUnreachable, match=r"cannot reach the database sqlite:///"):
        Database(f"sqlite:///{tmp_path / 'r.db'}").migrate()
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('9999')"))
    with pytest.raises(MigrationFailed) as caught:
        db.migrate()
    db.dispose()
    assert "9999" in caught.value.reason and caught.value.where == url
    assert str(caught.value).startswith(f"migrating the database {url} to revision 'head' failed")
