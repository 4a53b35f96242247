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

revision = "0031_agencies"
down_revision = "0030_payouts"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


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
    with op.batch_alter_table("staff_members") as batch:
        batch.add_column(sa.Column("agency_id", ID, nullable=True))
        batch.create_index("ix_staff_members_agency_id", ["agency_id"], unique=False)
        batch.create_foreign_key(
            "fk_staff_members_agency_id_agencies", "agencies", ["agency_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_members") as batch:
        batch.drop_constraint("fk_staff_members_agency_id_agencies", type_="foreignkey")
        batch.drop_index("ix_staff_members_agency_id")
        batch.drop_column("agency_id")
    op.drop_table("agency_placements")
    op.drop_table("agencies")
