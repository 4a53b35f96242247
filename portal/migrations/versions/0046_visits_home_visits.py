"""home visits (``portal.visits``, issue 19): ``home_visits`` (one row a visit, from its
proposal through its notice and schedule to its record; at most one open per case) and
``visit_photos`` (photos of the notice left at the door). New, so nothing to backfill.

Revision ID: 0034_visits
Revises: 0033_legal
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034_visits"
down_revision = "0033_legal"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)
STATUSES = (
    "proposed",
    "approved",
    "noticed",
    "scheduled",
    "visited",
    "nobody_home",
    "cancelled",
)
OPEN = "status IN ('proposed', 'approved', 'noticed', 'scheduled')"


def _codes(values: tuple[str, ...], name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _staff(column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["staff_members.id"], name=f"fk_home_visits_{column}_staff_members"
    )


def upgrade() -> None:
    op.create_table(
        "home_visits",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("status", _codes(STATUSES, "status", 16), nullable=False),
        sa.Column("agreed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_by_id", ID, nullable=False),
        sa.Column("proposed_at", MOMENT, nullable=False),
        sa.Column("approved_by_id", ID, nullable=True),
        sa.Column("approved_at", MOMENT, nullable=True),
        sa.Column("window_first", sa.Date(), nullable=True),
        sa.Column("window_last", sa.Date(), nullable=True),
        sa.Column("notice_message_id", ID, nullable=True),
        sa.Column("noticed_at", MOMENT, nullable=True),
        sa.Column("scheduled_for", MOMENT, nullable=True),
        sa.Column("scheduled_by_id", ID, nullable=True),
        sa.Column("visitor_one_id", ID, nullable=True),
        sa.Column("visitor_one_card", sa.String(length=32), nullable=True),
        sa.Column("visitor_two_id", ID, nullable=True),
        sa.Column("visitor_two_card", sa.String(length=32), nullable=True),
        sa.Column("visited_at", MOMENT, nullable=True),
        sa.Column("recorded_by_id", ID, nullable=True),
        sa.Column("said", sa.Text(), nullable=True),
        sa.Column("promise_id", ID, nullable=True),
        sa.Column("offer_id", ID, nullable=True),
        sa.Column("gps_consent", sa.Boolean(), nullable=False),
        sa.Column("latitude", sa.Numeric(9, 6), nullable=True),
        sa.Column("longitude", sa.Numeric(9, 6), nullable=True),
        sa.Column("cancelled_at", MOMENT, nullable=True),
        sa.Column("cancelled_by", sa.String(length=254), nullable=True),
        sa.Column("cancel_reason", sa.String(length=32), nullable=True),
        sa.CheckConstraint("visitor_one_id <> visitor_two_id", name="two_visitors"),
        sa.CheckConstraint(
            "approved_by_id IS NULL OR approved_by_id <> proposed_by_id", name="maker"
        ),
        sa.CheckConstraint("window_first IS NULL OR window_first <= window_last", name="window"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_home_visits_case_id_cases"),
        _staff("proposed_by_id"),
        _staff("approved_by_id"),
        _staff("scheduled_by_id"),
        _staff("visitor_one_id"),
        _staff("visitor_two_id"),
        _staff("recorded_by_id"),
        sa.ForeignKeyConstraint(
            ["notice_message_id"],
            ["messages.id"],
            name="fk_home_visits_notice_message_id_messages",
        ),
        sa.ForeignKeyConstraint(
            ["promise_id"], ["promises.id"], name="fk_home_visits_promise_id_promises"
        ),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name="fk_home_visits_offer_id_offers"),
        sa.PrimaryKeyConstraint("id", name="pk_home_visits"),
    )
    op.create_index("ix_home_visits_case_id", "home_visits", ["case_id"])
    op.create_index("ix_home_visits_visitor_one_id", "home_visits", ["visitor_one_id"])
    op.create_index("ix_home_visits_visitor_two_id", "home_visits", ["visitor_two_id"])
    op.create_index(
        "uq_home_visits_open",
        "home_visits",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_table(
        "visit_photos",
        sa.Column("id", ID, nullable=False),
        sa.Column("visit_id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column(
            "content_type",
            _codes(("image/jpeg", "image/png", "application/pdf"), "content_type", 32),
            nullable=False,
        ),
        sa.Column("size", ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", MOMENT, nullable=False),
        sa.Column("uploaded_by_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["home_visits.id"], name="fk_visit_photos_visit_id_home_visits"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_visit_photos_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["staff_members.id"],
            name="fk_visit_photos_uploaded_by_id_staff_members",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_visit_photos"),
        sa.UniqueConstraint("stored_name", name="uq_visit_photos_stored_name"),
    )
    op.create_index("ix_visit_photos_visit_id", "visit_photos", ["visit_id"])
    op.create_index("ix_visit_photos_case_id", "visit_photos", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_visit_photos_case_id", table_name="visit_photos")
    op.drop_index("ix_visit_photos_visit_id", table_name="visit_photos")
    op.drop_table("visit_photos")
    op.drop_index("uq_home_visits_open", table_name="home_visits")
    op.drop_index("ix_home_visits_visitor_two_id", table_name="home_visits")
    op.drop_index("ix_home_visits_visitor_one_id", table_name="home_visits")
    op.drop_index("ix_home_visits_case_id", table_name="home_visits")
    op.drop_table("home_visits")
