"""the reports' periods read by index: the plans accepted and started, the promises made,
the contact attempts and the reminders sent on some days (``portal.reporting``). At a
million cases each of these tables holds millions of rows, and a period is a month or a
year of them.

Revision ID: 0020_report_periods
Revises: 0019_month_ends
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0020_report_periods"
down_revision = "0019_month_ends"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_plans_accepted_at", "plans", "accepted_at"),
    ("ix_plans_activated_at", "plans", "activated_at"),
    ("ix_promises_made_at", "promises", "made_at"),
    ("ix_contact_attempts_at", "contact_attempts", "at"),
    ("ix_messages_sent_at", "messages", "sent_at"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
