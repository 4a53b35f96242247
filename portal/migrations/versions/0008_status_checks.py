"""statuses as closed sets: a CHECK constraint on every status, stage and hold column, so
the database refuses a code the portal does not know (the models map them to StrEnums)

SQLite cannot add a constraint to a table, and rebuilding a table (Alembic's batch mode)
inside the migration's transaction fails while foreign keys are enforced and other rows
refer to it; it would also lose the expression index on payments. So on SQLite the
constraint is written into the table's stored definition (SQLite's documented way to
change a table's schema without touching its rows: ``PRAGMA writable_schema``), after
checking that no row breaks it. The table's rows, indexes and triggers stay as they are.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.engine import Connection

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (table, constraint name, column, allowed values), as the models define them.
CHECKS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("cases", "ck_cases_status", "status", ("open", "arranged", "resolved")),
    ("cases", "ck_cases_stage", "stage", ("current", "early", "mid", "late")),
    ("cases", "ck_cases_hold", "hold", ("dispute", "hardship")),
    (
        "offers",
        "ck_offers_status",
        "status",
        ("ready", "needs_approval", "declined", "withdrawn", "accepted", "expired"),
    ),
    (
        "plans",
        "ck_plans_status",
        "status",
        ("pending", "active", "completed", "broken", "lapsed", "cancelled"),
    ),
    (
        "payments",
        "ck_payments_status",
        "status",
        ("created", "pending", "unknown", "succeeded", "failed", "voided"),
    ),
    (
        "messages",
        "ck_messages_status",
        "status",
        ("scheduled", "sending", "sent", "failed", "cancelled"),
    ),
    (
        "promises",
        "ck_promises_status",
        "status",
        ("open", "kept", "partly_kept", "broken", "superseded"),
    ),
    ("reconciliation_runs", "ck_reconciliation_runs_status", "status", ("completed", "failed")),
)


def _condition(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _clause(name: str, column: str, values: tuple[str, ...]) -> str:
    return f", CONSTRAINT {name} CHECK ({_condition(column, values)})"


def upgrade() -> None:
    bind = op.get_bind()
    for table, _name, column, values in CHECKS:
        bad = bind.exec_driver_sql(  # names and values are this file's constants
            f"SELECT DISTINCT {column} FROM {table} "  # noqa: S608
            f"WHERE {column} IS NOT NULL AND NOT ({_condition(column, values)})"
        ).scalars()
        unknown = sorted(str(value) for value in bad)
        if unknown:
            raise RuntimeError(f"{table}.{column} holds codes the portal does not know: {unknown}")
    if bind.dialect.name == "sqlite":
        _rewrite_sqlite(bind, add=True)
        return
    # PostgreSQL: each CHECK is added NOT VALID (a moment's lock: no scan), and then
    # validated outside the migration's transaction, where the scan takes a lock that lets
    # the portal go on writing to the table, however big it is.
    for table, name, column, values in CHECKS:
        op.create_check_constraint(
            op.f(name), table, _condition(column, values), postgresql_not_valid=True
        )
    with op.get_context().autocommit_block():
        for table, name, _column, _values in CHECKS:
            op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rewrite_sqlite(bind, add=False)
        return
    for table, name, _column, _values in reversed(CHECKS):
        op.drop_constraint(op.f(name), table, type_="check")


def _rewrite_sqlite(bind: Connection, *, add: bool) -> None:
    """Add (or take out) each table's CHECK clauses in its stored ``CREATE TABLE``."""
    tables: dict[str, list[str]] = {}
    for table, name, column, values in CHECKS:
        tables.setdefault(table, []).append(_clause(name, column, values))
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        for table, clauses in tables.items():
            sql = bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).scalar_one()
            body = sql.rstrip()
            if not body.endswith(")"):
                raise RuntimeError(f"unexpected definition of {table}: {sql!r}")
            if add:
                changed = body[:-1] + "".join(clauses) + ")"
            else:
                changed = body
                for clause in clauses:
                    if clause not in changed:
                        raise RuntimeError(f"{table} has no constraint {clause!r}")
                    changed = changed.replace(clause, "")
            bind.exec_driver_sql(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                (changed, table),
            )
        # A new schema version makes every connection read the changed definitions.
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
