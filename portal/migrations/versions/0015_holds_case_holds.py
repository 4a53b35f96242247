"""holds that end: ``case_holds`` keeps each hold's record (why, until when, how it
ended, a dispute's proposed resolution and its sign-off); ``cases.hold`` stays the column
every rule reads. Cases already on hold get their row, with the default breathing space
(60 days) or review date (30 days) counted from when the hold began.

Revision ID: 0013_holds
Revises: 0013_juris
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_holds"
down_revision = "0013_juris"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _check(name: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{name} IN ({allowed})", name=name)


def upgrade() -> None:
    op.create_table(
        "case_holds",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_by", sa.String(length=254), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("review_by", sa.Date(), nullable=True),
        sa.Column("proposed", sa.String(length=16), nullable=True),
        sa.Column("proposed_note", sa.Text(), nullable=True),
        sa.Column("proposed_by_id", ID, nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_off_by_id", ID, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=254), nullable=True),
        sa.Column("end_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_holds_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["staff_members.id"],
            name="fk_case_holds_proposed_by_id_staff_members",
        ),
        sa.ForeignKeyConstraint(
            ["signed_off_by_id"],
            ["staff_members.id"],
            name="fk_case_holds_signed_off_by_id_staff_members",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_case_holds"),
        _check("kind", ("dispute", "hardship")),
        _check("status", ("active", "proposed", "ended")),
        _check("reason", ("not_mine", "already_paid", "wrong_amount", "fraud", "other")),
        _check("proposed", ("upheld", "rejected")),
        _check("outcome", ("expired", "plan_agreed", "lifted", "upheld", "rejected")),
    )
    op.create_index("ix_case_holds_case_id", "case_holds", ["case_id"])
    op.create_index("ix_case_holds_ends_on", "case_holds", ["ends_on"])
    op.create_index(
        "uq_case_holds_standing",
        "case_holds",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "dispute_evidence",
        sa.Column("id", ID, nullable=False),
        sa.Column("hold_id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["case_holds.id"], name="fk_dispute_evidence_hold_id_case_holds"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_dispute_evidence_case_id_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dispute_evidence"),
        sa.UniqueConstraint("stored_name", name="uq_dispute_evidence_stored_name"),
        sa.CheckConstraint(
            "content_type IN ('image/jpeg', 'image/png', 'application/pdf')",
            name="content_type",
        ),
    )
    op.create_index("ix_dispute_evidence_hold_id", "dispute_evidence", ["hold_id"])
    op.create_index("ix_dispute_evidence_case_id", "dispute_evidence", ["case_id"])
    # The holds that stand today get their record.
    op.execute(_backfill())


def _backfill() -> sa.TextClause:
    """The INSERT … SELECT of the standing holds, with each dialect's date arithmetic."""
    if op.get_bind().dialect.name == "postgresql":
        since = "CAST(COALESCE(hold_since, updated_at) AS date)"
        ends, review = f"{since} + 60", f"{since} + 30"
    else:
        ends = "date(COALESCE(hold_since, updated_at), '+60 days')"
        review = "date(COALESCE(hold_since, updated_at), '+30 days')"
    # The SQL is built from this module's constants only, never from input.
    return sa.text(
        "INSERT INTO case_holds (case_id, kind, status, details, placed_at, placed_by, "  # noqa: S608
        "ends_on, review_by) "
        "SELECT id, hold, 'active', '', COALESCE(hold_since, updated_at), 'borrower', "
        f"CASE WHEN hold = 'hardship' THEN {ends} END, "
        f"CASE WHEN hold = 'dispute' THEN {review} END "
        "FROM cases WHERE hold IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_dispute_evidence_case_id", table_name="dispute_evidence")
    op.drop_index("ix_dispute_evidence_hold_id", table_name="dispute_evidence")
    op.drop_table("dispute_evidence")
    op.drop_index("uq_case_holds_standing", table_name="case_holds")
    op.drop_index("ix_case_holds_ends_on", table_name="case_holds")
    op.drop_index("ix_case_holds_case_id", table_name="case_holds")
    op.drop_table("case_holds")
