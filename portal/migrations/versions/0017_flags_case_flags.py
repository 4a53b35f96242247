"""case flags: why a case needs an agent, each reason open at most once until an agent
clears it with a note. Cases that asked for an agent before get one flag "other".

Revision ID: 0014_flags
Revises: 0014_callbacks
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_flags"
down_revision = "0014_callbacks"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REASONS = (
    "verification_locked",
    "promise_broken",
    "hold_placed",
    "hold_review",
    "hold_ended",
    "borrower_request",
    "agent",
    "other",
)


def upgrade() -> None:
    op.create_table(
        "case_flags",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_by", sa.String(length=254), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(length=254), nullable=True),
        sa.Column("clear_note", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_flags_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_case_flags"),
        sa.CheckConstraint(
            "reason IN ({})".format(", ".join(f"'{r}'" for r in REASONS)),
            name="reason",
        ),
    )
    op.create_index("ix_case_flags_case_id", "case_flags", ["case_id"])
    op.create_index(
        "uq_case_flags_open",
        "case_flags",
        ["case_id", "reason"],
        unique=True,
        sqlite_where=sa.text("cleared_at IS NULL"),
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    # One set-based statement: every case that already asked for an agent keeps asking.
    op.execute(
        "INSERT INTO case_flags (case_id, reason, raised_at, raised_by, details) "
        "SELECT id, 'other', updated_at, 'system', '{}' FROM cases WHERE needs_agent"
    )


def downgrade() -> None:
    op.drop_index("uq_case_flags_open", table_name="case_flags")
    op.drop_index("ix_case_flags_case_id", table_name="case_flags")
    op.drop_table("case_flags")
