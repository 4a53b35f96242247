"""session_statements: a borrower's income-and-expenditure statement kept on the server
for their session (the cookie carries only a random key), never in the signed cookie

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_statements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["reminder_links.id"],
            name=op.f("fk_session_statements_link_id_reminder_links"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_statements")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_session_statements_key_hash")),
    )
    with op.batch_alter_table("session_statements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_statements_link_id"), ["link_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_session_statements_saved_at"), ["saved_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("session_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_statements_saved_at"))
        batch_op.drop_index(batch_op.f("ix_session_statements_link_id"))
    op.drop_table("session_statements")
