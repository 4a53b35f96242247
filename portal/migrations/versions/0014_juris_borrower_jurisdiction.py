"""each borrower's jurisdiction for the contact rules: ``borrowers.jurisdiction`` (a code
the rules know, CHECKed), derived for existing borrowers from their postal address, time
zone and loan's market; ``jurisdiction_set_by`` names the agent who set it by hand

Revision ID: 0013_juris
Revises: 0013_owners
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from negotiation.jurisdiction import JURISDICTIONS, derive

revision = "0013_juris"
down_revision = "0013_owners"
branch_labels = None
depends_on = None

# The market a loan was made in, by its currency (portal.core.i18n.MARKETS).
MARKETS = {"TWD": "TW", "CNY": "CN", "HKD": "HK"}
CHECK = "jurisdiction IN ({})".format(", ".join(f"'{code}'" for code in JURISDICTIONS))
CLAUSE = f" CONSTRAINT ck_borrowers_jurisdiction CHECK ({CHECK})"


def upgrade() -> None:
    bind = op.get_bind()
    # One statement on both databases: SQLite adds a column with its CHECK and a default
    # (NOT NULL needs one for the rows already there), PostgreSQL too.
    op.execute(
        f"ALTER TABLE borrowers ADD COLUMN jurisdiction VARCHAR(5) NOT NULL DEFAULT 'TW'{CLAUSE}"
    )
    op.add_column("borrowers", sa.Column("jurisdiction_set_by", sa.String(254), nullable=True))
    rows = bind.execute(
        sa.text(
            "SELECT b.id, b.postal_address, b.timezone, MIN(l.currency) FROM borrowers b "
            "LEFT JOIN loans l ON l.borrower_id = b.id "
            "GROUP BY b.id, b.postal_address, b.timezone"
        )
    )
    by_code: dict[str, list[int]] = defaultdict(list)
    for borrower_id, address, zone, currency in rows:
        by_code[derive(address, zone, MARKETS.get(currency or ""))].append(borrower_id)
    for code, ids in by_code.items():
        if code == "TW":
            continue
        for start in range(0, len(ids), 1000):
            bind.execute(
                sa.text("UPDATE borrowers SET jurisdiction = :code WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"code": code, "ids": ids[start : start + 1000]},
            )


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_column("borrowers", "jurisdiction_set_by")
    if bind.dialect.name == "sqlite":
        # SQLite will not drop a column its CHECK names: take the clause out of the stored
        # definition first, as migration 0008 does (PRAGMA writable_schema).
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'borrowers'"
        ).scalar_one()
        if CLAUSE not in sql:
            raise RuntimeError("borrowers has no jurisdiction constraint to take out")
        version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
        bind.exec_driver_sql("PRAGMA writable_schema=ON")
        try:
            bind.exec_driver_sql(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'borrowers'",
                (sql.replace(CLAUSE, ""),),
            )
            bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
        finally:
            bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    else:
        op.drop_constraint(op.f("ck_borrowers_jurisdiction"), "borrowers", type_="check")
    op.drop_column("borrowers", "jurisdiction")
