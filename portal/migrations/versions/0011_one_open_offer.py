"""one open offer per case: a partial unique index on offers (ready or needs_approval), and
``replaced_by_id``, the offer that withdrew an older one

Cases that already hold several open offers keep their newest; each older one is
withdrawn and names the newest as its successor, as the portal does from now on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OPEN = "status IN ('ready', 'needs_approval')"
FOREIGN_KEY = "fk_offers_replaced_by_id_offers"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its foreign key in place (Alembic would rebuild the
        # table, which fails while other rows refer to it).
        op.execute(
            "ALTER TABLE offers ADD COLUMN replaced_by_id INTEGER "
            f"CONSTRAINT {FOREIGN_KEY} REFERENCES offers (id)"
        )
    else:
        op.add_column(
            "offers",
            sa.Column("replaced_by_id", sa.BigInteger(), nullable=True),
        )
        op.create_foreign_key(op.f(FOREIGN_KEY), "offers", "offers", ["replaced_by_id"], ["id"])
    # Older open offers of a case give way to its newest one.
    op.execute(
        "UPDATE offers SET status = 'withdrawn', replaced_by_id = ("  # noqa: S608 (constants)
        f"SELECT max(newer.id) FROM offers AS newer WHERE newer.case_id = offers.case_id "
        f"AND newer.{OPEN}) "
        f"WHERE {OPEN} AND id < (SELECT max(newer.id) FROM offers AS newer "
        f"WHERE newer.case_id = offers.case_id AND newer.{OPEN})"
    )
    op.create_index(
        "uq_offers_one_open_per_case",
        "offers",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_offers_one_open_per_case",
        "offers",
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f(FOREIGN_KEY), "offers", type_="foreignkey")
        op.drop_column("offers", "replaced_by_id")
        return
    # SQLite drops no column a foreign key names: take the clause out of the stored
    # definition first (as 0008 does for its checks), then drop the column.
    clause = f" CONSTRAINT {FOREIGN_KEY} REFERENCES offers (id)"
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'offers'"
    ).scalar_one()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'offers'",
            (sql.replace(clause, ""),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    op.execute("ALTER TABLE offers DROP COLUMN replaced_by_id")
