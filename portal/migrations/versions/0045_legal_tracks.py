"""The legal track (issue 19): ``legal_tracks`` (one case's referral, approval, final
notice and deadline, and how it ended; at most one live track per case),
``legal_steps`` (each milestone reached, dated, and who acted), ``legal_costs`` (costs in
minor units, with the loan charge that adds one to what the borrower owes where the law
allows it) and ``legal_documents`` (the papers kept with a track). New, nothing to
backfill.

Revision ID: 0033_legal
Revises: 0032_commission_entries
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033_legal"
down_revision = "0032_commission_entries"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)
LIVE_TRACK = "status IN ('referred', 'approved', 'noticed', 'active', 'paused')"
MILESTONES = (
    "demand_letter",
    "payment_order",
    "finality_certificate",
    "lawyer_letter",
    "arbitration_filed",
    "arbitral_award",
    "letter_before_action",
    "claim_filed",
    "judgment",
    "enforcement",
)
COSTS = ("court_fee", "service_fee", "enforcement_fee", "lawyer_fee")


def _codes(values: tuple[str, ...], name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _staff(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, ID, sa.ForeignKey("staff_members.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "legal_tracks",
        sa.Column("id", ID, primary_key=True),
        sa.Column("case_id", ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column(
            "status",
            _codes(
                ("referred", "approved", "noticed", "active", "paused", "stopped", "closed"),
                "status",
                16,
            ),
            nullable=False,
        ),
        _staff("referred_by_id"),
        sa.Column("referred_at", MOMENT, nullable=False),
        sa.Column("referral_note", sa.Text(), nullable=False),
        _staff("approved_by_id", nullable=True),
        sa.Column("approved_at", MOMENT, nullable=True),
        _staff("notice_sent_by_id", nullable=True),
        sa.Column("notice_sent_on", sa.Date(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("letter_message_id", ID, sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("notice_message_id", ID, sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("ended_at", MOMENT, nullable=True),
        sa.Column("ended_by", sa.String(length=254), nullable=True),
        sa.Column(
            "end",
            _codes(("payment", "plan", "refused", "staff", "paid", "completed"), "end", 16),
            nullable=True,
        ),
        sa.Column("end_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_legal_tracks_case_id", "legal_tracks", ["case_id"])
    op.create_index("ix_legal_tracks_deadline", "legal_tracks", ["deadline"])
    op.create_index(
        "uq_legal_tracks_live",
        "legal_tracks",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text(LIVE_TRACK),
        postgresql_where=sa.text(LIVE_TRACK),
    )
    op.create_table(
        "legal_steps",
        sa.Column("id", ID, primary_key=True),
        sa.Column("track_id", ID, sa.ForeignKey("legal_tracks.id"), nullable=False),
        sa.Column("case_id", ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("milestone", _codes(MILESTONES, "milestone", 24), nullable=False),
        sa.Column("reached_on", sa.Date(), nullable=False),
        _staff("recorded_by_id"),
        sa.Column("recorded_at", MOMENT, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.UniqueConstraint("track_id", "milestone"),
    )
    op.create_index("ix_legal_steps_track_id", "legal_steps", ["track_id"])
    op.create_index("ix_legal_steps_case_id", "legal_steps", ["case_id"])
    op.create_table(
        "legal_costs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("track_id", ID, sa.ForeignKey("legal_tracks.id"), nullable=False),
        sa.Column("case_id", ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("step_id", ID, sa.ForeignKey("legal_steps.id"), nullable=True),
        sa.Column("kind", _codes(COSTS, "kind", 16), nullable=False),
        sa.Column("amount", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("incurred_on", sa.Date(), nullable=False),
        sa.Column("charge_id", ID, sa.ForeignKey("loan_charges.id"), nullable=True),
        _staff("recorded_by_id"),
        sa.Column("recorded_at", MOMENT, nullable=False),
    )
    op.create_index("ix_legal_costs_track_id", "legal_costs", ["track_id"])
    op.create_index("ix_legal_costs_case_id", "legal_costs", ["case_id"])
    op.create_table(
        "legal_documents",
        sa.Column("id", ID, primary_key=True),
        sa.Column("track_id", ID, sa.ForeignKey("legal_tracks.id"), nullable=False),
        sa.Column("case_id", ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("step_id", ID, sa.ForeignKey("legal_steps.id"), nullable=True),
        sa.Column(
            "kind",
            _codes(
                (
                    "final_notice",
                    "payment_order_app",
                    "court_order",
                    "certificate",
                    "other",
                ),
                "kind",
                24,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        _staff("recorded_by_id"),
        sa.Column("recorded_at", MOMENT, nullable=False),
    )
    op.create_index("ix_legal_documents_track_id", "legal_documents", ["track_id"])
    op.create_index("ix_legal_documents_case_id", "legal_documents", ["case_id"])


def downgrade() -> None:
    for table in ("legal_documents", "legal_costs", "legal_steps"):
        op.drop_index(f"ix_{table}_case_id", table_name=table)
        op.drop_index(f"ix_{table}_track_id", table_name=table)
        op.drop_table(table)
    op.drop_index("uq_legal_tracks_live", table_name="legal_tracks")
    op.drop_index("ix_legal_tracks_deadline", table_name="legal_tracks")
    op.drop_index("ix_legal_tracks_case_id", table_name="legal_tracks")
    op.drop_table("legal_tracks")
