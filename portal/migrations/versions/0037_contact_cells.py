"""the contact's cells (``portal.reporting.contact``), counted by the month-end step per
month and slice at the month's start: ``contact_cells`` (the contact log's rows and
right-party contacts per channel, agent and direction), ``contact_case_months`` (the
cases in the log), ``contact_refusal_cells`` (the contacts the gate refused, in total and
by reason) and ``contact_opt_out_cells`` (the opt-outs by channel). Empty here: the
month-end step counts them, and ``haohuan report backfill`` the months it writes.

Revision ID: 0025_contact_cells
Revises: 0024_plan_promise_cells
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025_contact_cells"
down_revision = "0024_plan_promise_cells"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAGES = ("current", "early", "mid", "late")
CHANNELS = ("sms", "email", "letter", "call")
REASONS = (
    "third_party",
    "on_hold",
    "opted_out",
    "quiet_hours",
    "holiday_blackout",
    "connected_calls_per_day",
    "call_attempts_per_7_days",
    "messages_per_day",
    "messages_per_7_days",
    "recent_conversation",
    "borrower_hours",
    "validation_notice_pending",
)


def _codes(*values: str, name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _slices() -> list[sa.Column[object]]:
    return [
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("market", sa.String(length=5), nullable=False),
        sa.Column("stage", _codes(*STAGES, name="stage", length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=97), nullable=True),
    ]


def _cells(name: str, *columns: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        *columns,
        *_slices(),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )
    op.create_index(f"ix_{name}_month_end", name, ["month_end"])


def upgrade() -> None:
    _cells(
        "contact_cells",
        sa.Column("channel", _codes(*CHANNELS, name="channel", length=8), nullable=False),
        sa.Column("agent", sa.String(length=254), nullable=True),
        sa.Column("inbound", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("connected", sa.Integer(), nullable=False),
    )
    _cells("contact_case_months", sa.Column("cases", sa.Integer(), nullable=False))
    _cells(
        "contact_refusal_cells",
        sa.Column("reason", _codes(*REASONS, name="reason", length=32), nullable=True),
        sa.Column("refusals", sa.Integer(), nullable=False),
    )
    _cells(
        "contact_opt_out_cells",
        sa.Column("channel", _codes(*CHANNELS, name="channel", length=8), nullable=False),
        sa.Column("opt_outs", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for name in (
        "contact_opt_out_cells",
        "contact_refusal_cells",
        "contact_case_months",
        "contact_cells",
    ):
        op.drop_index(f"ix_{name}_month_end", table_name=name)
        op.drop_table(name)
