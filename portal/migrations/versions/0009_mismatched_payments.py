"""payments: a "mismatched" status, for a success the gateway reported for another
amount or currency than the payment's (held for finance to review, never paid)

The status CHECK of migration 0008 is widened: on PostgreSQL dropped and added again
(NOT VALID, then validated outside the transaction, as 0008 does); on SQLite by changing
the clause in the table's stored definition, as 0008 wrote it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.engine import Connection

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NAME = "ck_payments_status"
BEFORE = ("created", "pending", "unknown", "succeeded", "failed", "voided")
AFTER = (*BEFORE, "mismatched")


def _condition(values: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    _change(BEFORE, AFTER)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT 1 FROM payments WHERE status = 'mismatched'").first():
        raise RuntimeError("payments hold the status 'mismatched': review them first")
    _change(AFTER, BEFORE)


def _change(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rewrite_sqlite(bind, old, new)
        return
    op.drop_constraint(op.f(NAME), "payments", type_="check")
    op.create_check_constraint(op.f(NAME), "payments", _condition(new), postgresql_not_valid=True)
    with op.get_context().autocommit_block():
        op.execute(f"ALTER TABLE payments VALIDATE CONSTRAINT {NAME}")


def _rewrite_sqlite(bind: Connection, old: tuple[str, ...], new: tuple[str, ...]) -> None:
    before = f"CONSTRAINT {NAME} CHECK ({_condition(old)})"
    after = f"CONSTRAINT {NAME} CHECK ({_condition(new)})"
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'payments'"
    ).scalar_one()
    if before not in sql:
        raise RuntimeError(f"payments has no constraint {before!r}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'payments'",
            (sql.replace(before, after),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
