"""generation counters of models and inference services, bumped by the database itself

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 23:00:00

The read path (``glue.model_registry.service.generations``) trusts a cached answer while its
token is unchanged. The counters are raised by triggers, not by the application, so that every
writer invalidates: a replica still running code from before this revision during a rolling
upgrade, an operator's SQL, and the current code alike. Row triggers, in the writer's
transaction:

- ``aliases`` (insert, update, delete) and ``model_versions`` (update, delete; a new version
  raises ``models.latest_version``, part of the token already) -> ``models.generation``;
- ``service_assignments`` (insert, update, delete: assignments and canaries) ->
  ``inference_services.generation``;
- ``observed_models`` insert, delete, or update of which (pod, model, version) a row is ->
  ``inference_services.generation``, only while the service has a canary (the canary's pods
  depend on the live pods). A heartbeat updates its rows in place and bumps nothing. On
  PostgreSQL the trigger first locks the service's row, so a canary committing concurrently is
  seen (its own bump holds that lock until it commits).

SQLite drops a table's triggers when a batch migration copies the table: a later revision that
batch-alters one of these tables must create its triggers again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``(table, counter table, column naming the counter's row, operations)`` of each bump.
_BUMPS = (
    ("aliases", "models", "model_id", ("INSERT", "UPDATE", "DELETE")),
    ("model_versions", "models", "model_id", ("UPDATE", "DELETE")),
    ("service_assignments", "inference_services", "service_id", ("INSERT", "UPDATE", "DELETE")),
)
#: Which columns of ``observed_models`` make a row a different (pod, model, version).
_OBSERVED_IDENTITY = "service_id, pod, model, version"
_HAS_CANARY = (
    "EXISTS (SELECT 1 FROM service_assignments WHERE service_id = {row}.service_id"
    " AND canary_version IS NOT NULL)"
)


def _sqlite_triggers() -> list[tuple[str, str]]:
    """``(name, CREATE TRIGGER statement)`` of every SQLite trigger."""
    found: list[tuple[str, str]] = []
    for table, counter, column, operations in _BUMPS:
        for operation in operations:
            rows = {"INSERT": "NEW", "DELETE": "OLD"}.get(operation)
            ids = f"{rows}.{column}" if rows else f"OLD.{column}, NEW.{column}"
            name = f"kubeai_generation_{table}_{operation.lower()}"
            found.append(
                (
                    name,
                    f"CREATE TRIGGER {name} AFTER {operation} ON {table} FOR EACH ROW BEGIN "  # noqa: S608 - identifiers are this module's constants
                    f"UPDATE {counter} SET generation = generation + 1 WHERE id IN ({ids}); END",
                )
            )
    observed = (
        ("INSERT", "NEW", "INSERT"),
        ("DELETE", "OLD", "DELETE"),
        ("UPDATE", "NEW", f"UPDATE OF {_OBSERVED_IDENTITY}"),
        ("UPDATE_OLD", "OLD", f"UPDATE OF {_OBSERVED_IDENTITY}"),
    )
    for suffix, row, event in observed:
        name = f"kubeai_generation_observed_models_{suffix.lower()}"
        found.append(
            (
                name,
                f"CREATE TRIGGER {name} AFTER {event} ON observed_models FOR EACH ROW "  # noqa: S608 - constants
                f"WHEN {_HAS_CANARY.format(row=row)} BEGIN UPDATE inference_services "
                f"SET generation = generation + 1 WHERE id = {row}.service_id; END",
            )
        )
    return found


_PG_BUMP_FUNCTION = """
CREATE FUNCTION kubeai_bump_{counter}_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE {counter} SET generation = generation + 1 WHERE id = OLD.{column};
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.{column} IS DISTINCT FROM OLD.{column}) THEN
        UPDATE {counter} SET generation = generation + 1 WHERE id = NEW.{column};
    END IF;
    RETURN NULL;
END $$
"""

# Each statement of a VOLATILE function takes a new snapshot (READ COMMITTED): once the lock
# is held, the canary check sees a canary committed by the transaction that held it.
_PG_OBSERVED_FUNCTION = """
CREATE FUNCTION kubeai_bump_canary_service_generation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    service integer;
BEGIN
    FOREACH service IN ARRAY (CASE TG_OP
            WHEN 'INSERT' THEN ARRAY[NEW.service_id]
            WHEN 'DELETE' THEN ARRAY[OLD.service_id]
            ELSE ARRAY[OLD.service_id, NEW.service_id] END) LOOP
        PERFORM 1 FROM inference_services WHERE id = service FOR UPDATE;
        IF EXISTS (SELECT 1 FROM service_assignments
                   WHERE service_id = service AND canary_version IS NOT NULL) THEN
            UPDATE inference_services SET generation = generation + 1 WHERE id = service;
        END IF;
    END LOOP;
    RETURN NULL;
END $$
"""

_PG_FUNCTIONS = (
    "kubeai_bump_models_generation",
    "kubeai_bump_inference_services_generation",
    "kubeai_bump_canary_service_generation",
)


def _postgresql_triggers() -> list[tuple[str, str, str]]:
    """``(name, table, CREATE TRIGGER statement)`` of every PostgreSQL trigger."""
    found: list[tuple[str, str, str]] = []
    for table, counter, _column, operations in _BUMPS:
        name = f"kubeai_generation_{table}"
        found.append(
            (
                name,
                table,
                f"CREATE TRIGGER {name} AFTER {' OR '.join(operations)} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION kubeai_bump_{counter}_generation()",
            )
        )
    found.append(
        (
            "kubeai_generation_observed_models",
            "observed_models",
            "CREATE TRIGGER kubeai_generation_observed_models AFTER INSERT OR DELETE OR "
            f"UPDATE OF {_OBSERVED_IDENTITY} ON observed_models "
            "FOR EACH ROW EXECUTE FUNCTION kubeai_bump_canary_service_generation()",
        )
    )
    return found


def upgrade() -> None:
    """``models.generation`` and ``inference_services.generation`` (BIGINT, 0), and the
    triggers that raise them (see the module docstring)."""
    for table in ("models", "inference_services"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column("generation", sa.BigInteger(), nullable=False, server_default="0")
            )
    if op.get_bind().dialect.name == "postgresql":
        for counter, column in (("models", "model_id"), ("inference_services", "service_id")):
            op.execute(_PG_BUMP_FUNCTION.format(counter=counter, column=column))
        op.execute(_PG_OBSERVED_FUNCTION)
        for _name, _table, statement in _postgresql_triggers():
            op.execute(statement)
    else:
        for _name, statement in _sqlite_triggers():
            op.execute(statement)


def downgrade() -> None:
    """Drop the triggers, then both counters."""
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _statement in _postgresql_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for function in _PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for name, _statement in _sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in ("inference_services", "models"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("generation")
