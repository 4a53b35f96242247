"""callbacks: a call owed to the borrower at a moment, asked for by them (the portal, or
on a call) or planned by an agent; one open per case. Callbacks noted on calls before
this (case events ``callback_requested``) stay in the timeline; only new ones get a row.

Revision ID: 0014_callbacks
Revises: 0013_holds
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_callbacks"
down_revision = "0013_holds"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=254), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_attempt_id", ID, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_callbacks_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["contact_attempt_id"],
            ["contact_attempts.id"],
            name="fk_callbacks_contact_attempt_id_contact_attempts",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_callbacks"),
        sa.CheckConstraint("source IN ('borrower', 'agent')", name="source"),
        sa.CheckConstraint("status IN ('open', 'done', 'canceled')", name="status"),
    )
    op.create_index("ix_callbacks_case_id", "callbacks", ["case_id"])
    op.create_index("ix_callbacks_status_due_at", "callbacks", ["status", "due_at"])
    op.create_index(
        "uq_callbacks_open",
        "callbacks",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_callbacks_open", table_name="callbacks")
    op.drop_index("ix_callbacks_status_due_at", table_name="callbacks")
    op.drop_index("ix_callbacks_case_id", table_name="callbacks")
    op.drop_table("callbacks")
