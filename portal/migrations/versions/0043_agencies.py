"""partner agencies (``portal.models.agencies``): ``agencies``, ``agency_placements`` (a
case placed with an agency for a period; at most one live placement a case) and
``staff_members.agency_id`` (an agency's own staff). New, so nothing to backfill.

Revision ID: 0031_agencies
Revises: 0030_payouts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0031_agencies"
down_revision = "0030_payouts"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)
REFERENCE = "agency_id INTEGER REFERENCES agencies (id)"


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", ID, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("commission_rate", sa.Numeric(6, 4), nullable=False),
        sa.Column(
            "letterhead_allowed", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agencies"),
        sa.UniqueConstraint("code", name="uq_agencies_code"),
    )
    op.create_table(
        "agency_placements",
        sa.Column("id", ID, nullable=False),
        sa.Column("agency_id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "placed",
                "recalled",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("commission_rate", sa.Numeric(6, 4), nullable=False),
        sa.Column("placed_balance", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("placed_by", sa.String(length=254), nullable=False),
        sa.Column("placed_at", MOMENT, nullable=False),
        sa.Column("ends_at", MOMENT, nullable=False),
        sa.Column("recalled_at", MOMENT, nullable=True),
        sa.Column("recalled_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_agency_placements_agency_id_agencies"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_agency_placements_case_id_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agency_placements"),
    )
    op.create_index(
        "ix_agency_placements_agency_id", "agency_placements", ["agency_id"], unique=False
    )
    op.create_index("ix_agency_placements_case_id", "agency_placements", ["case_id"], unique=False)
    op.create_index(
        "uq_agency_placements_one_live_per_case",
        "agency_placements",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("status = 'placed'"),
        postgresql_where=sa.text("status = 'placed'"),
    )
    # SQLite adds a column with its REFERENCES clause in place (as 0020 adds team_id); a
    # batch rebuild would rewrite the table's stored definition that 0020's downgrade reads.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE staff_members ADD COLUMN {REFERENCE}")
    else:
        op.add_column("staff_members", sa.Column("agency_id", ID, nullable=True))
        op.create_foreign_key(
            "fk_staff_members_agency_id_agencies",
            "staff_members",
            "agencies",
            ["agency_id"],
            ["id"],
        )
    op.create_index("ix_staff_members_agency_id", "staff_members", ["agency_id"])


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_staff_members_agency_id", table_name="staff_members")
    if bind.dialect.name == "sqlite":
        _unreference_on_sqlite(bind)
        op.execute("ALTER TABLE staff_members DROP COLUMN agency_id")
    else:
        op.drop_constraint(
            "fk_staff_members_agency_id_agencies", "staff_members", type_="foreignkey"
        )
        op.drop_column("staff_members", "agency_id")
    op.drop_table("agency_placements")
    op.drop_table("agencies")


def _unreference_on_sqlite(bind: Connection) -> None:
    """SQLite drops only a column no constraint names: the REFERENCES clause goes from
    the stored definition first (as 0020 does for ``team_id``)."""
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'staff_members'"
    ).scalar_one()
    if REFERENCE not in sql:
        raise RuntimeError(f"unexpected definition of staff_members: {sql!r}")
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'staff_members'",
            (sql.replace(REFERENCE, "agency_id INTEGER"),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
