"""hold adjustments: what an upheld dispute changes in the books (a charge waived, an
installment reduced, the balance written off), one line each, proposed with the
resolution and applied only by the supervisor's sign-off. Nothing existed before, so
there is nothing to backfill: disputes upheld before this moved no money.

Revision ID: 0014_holds2
Revises: 0014_staffadmin
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_holds2"
down_revision = "0014_staffadmin"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KINDS = ("waive_charge", "reduce_installment", "write_off")
STATUSES = ("proposed", "applied", "withdrawn")


def _check(name: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    # The naming convention makes it ck_hold_adjustments_<name> (a full name given here
    # would be prefixed a second time).
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{name} IN ({allowed})", name=name)


def upgrade() -> None:
    op.create_table(
        "hold_adjustments",
        sa.Column("id", ID, nullable=False),
        sa.Column("hold_id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("charge_id", ID, nullable=True),
        sa.Column("installment_id", ID, nullable=True),
        sa.Column("amount", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("proposed_by_id", ID, nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_by_id", ID, nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["case_holds.id"], name="fk_hold_adjustments_hold_id_case_holds"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_hold_adjustments_case_id_cases"
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["loan_charges.id"], name="fk_hold_adjustments_charge_id_loan_charges"
        ),
        sa.ForeignKeyConstraint(
            ["installment_id"],
            ["loan_installments.id"],
            name="fk_hold_adjustments_installment_id_loan_installments",
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["staff_members.id"],
            name="fk_hold_adjustments_proposed_by_id_staff_members",
        ),
        sa.ForeignKeyConstraint(
            ["applied_by_id"],
            ["staff_members.id"],
            name="fk_hold_adjustments_applied_by_id_staff_members",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_hold_adjustments"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        _check("kind", KINDS),
        _check("status", STATUSES),
    )
    op.create_index("ix_hold_adjustments_hold_id", "hold_adjustments", ["hold_id"])
    op.create_index("ix_hold_adjustments_case_id", "hold_adjustments", ["case_id"])
    op.create_index("ix_hold_adjustments_applied_at", "hold_adjustments", ["applied_at"])


def downgrade() -> None:
    op.drop_index("ix_hold_adjustments_applied_at", table_name="hold_adjustments")
    op.drop_index("ix_hold_adjustments_case_id", table_name="hold_adjustments")
    op.drop_index("ix_hold_adjustments_hold_id", table_name="hold_adjustments")
    op.drop_table("hold_adjustments")
