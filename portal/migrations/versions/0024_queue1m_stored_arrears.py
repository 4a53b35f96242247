"""the queue at a million cases: each case's stored overdue amount with the window of days
it holds for (``portal.cases.arrears``), counted here for every case; each borrower's
phone digits as a generated column; the indexes the queue's amount filter, amount sort,
phone search and loan-number search read (trigram indexes on PostgreSQL, which needs the
pg_trgm extension: ``CREATE EXTENSION IF NOT EXISTS pg_trgm`` runs here).

Revision ID: 0014_queue1m
Revises: 0014_strategy
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_queue1m"
down_revision = "0014_strategy"
branch_labels = None
depends_on = None

SEPARATORS = (" ", "+", "-", "(", ")", ".", "/")


def _digits() -> str:
    expression = "phone"
    for separator in SEPARATORS:
        expression = f"replace({expression}, '{separator}', '')"
    return expression


def upgrade() -> None:
    from portal.cases.arrears import refresh

    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column(
        "cases", sa.Column("arrears", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column("cases", sa.Column("arrears_currency", sa.String(length=3), nullable=True))
    op.add_column("cases", sa.Column("arrears_after", sa.Date(), nullable=True))
    op.add_column(
        "cases",
        sa.Column("arrears_until", sa.Date(), server_default="1900-01-01", nullable=True),
    )
    # SQLite adds a generated column only as VIRTUAL; PostgreSQL only as STORED.
    op.add_column(
        "borrowers",
        sa.Column("phone_digits", sa.String(length=32), sa.Computed(_digits(), persisted=postgres)),
    )
    # Every case counted now, before its indexes exist.
    refresh(bind)
    op.create_index(
        "ix_cases_arrears",
        "cases",
        ["arrears"],
        sqlite_where=sa.text("arrears > 0"),
        postgresql_where=sa.text("arrears > 0"),
    )
    op.create_index("ix_cases_arrears_after", "cases", ["arrears_after"])
    op.create_index("ix_cases_arrears_until", "cases", ["arrears_until"])
    if postgres:
        op.create_index(
            "ix_borrowers_phone_digits",
            "borrowers",
            ["phone_digits"],
            postgresql_using="gin",
            postgresql_ops={"phone_digits": "gin_trgm_ops"},
        )
        op.execute(
            "CREATE INDEX ix_loans_number_upper ON loans USING gin (upper(number) gin_trgm_ops)"
        )
    else:
        op.create_index("ix_borrowers_phone_digits", "borrowers", ["phone_digits"])
        op.create_index("ix_loans_number_upper", "loans", [sa.text("upper(number)")])
    if postgres:
        op.execute("ANALYZE cases")


def downgrade() -> None:
    from portal.core.db import forget_columns

    forget_columns()
    op.drop_index("ix_loans_number_upper", table_name="loans")
    op.drop_index("ix_borrowers_phone_digits", table_name="borrowers")
    op.drop_index("ix_cases_arrears_until", table_name="cases")
    op.drop_index("ix_cases_arrears_after", table_name="cases")
    op.drop_index("ix_cases_arrears", table_name="cases")
    # Dropped in place (SQLite 3.35 and later too): a rebuilt borrowers table would break
    # the loans' foreign keys.
    op.execute("ALTER TABLE borrowers DROP COLUMN phone_digits")
    for column in ("arrears_until", "arrears_after", "arrears_currency", "arrears"):
        op.execute(f"ALTER TABLE cases DROP COLUMN {column}")
