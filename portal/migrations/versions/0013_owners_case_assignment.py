"""case ownership and assignment: each case's owner (``cases.owner_id``, pinned when a
supervisor chose it), each staff member's capacity and "away" flag, and the supervisors'
assignment rules with their agents (``haohuan cases assign``)

Revision ID: 0013_owners
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0013_owners"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAGES = ("current", "early", "mid", "late")


def upgrade() -> None:
    op.add_column(
        "staff_members",
        sa.Column("capacity", sa.Integer(), server_default=sa.text("500"), nullable=False),
    )
    op.add_column(
        "staff_members",
        sa.Column("away", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    # A plain ADD COLUMN (SQLite takes a REFERENCES clause on a new nullable column, which
    # Alembic will not write), so the cases table is not rebuilt (see 0008 for why not).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE cases ADD COLUMN {OWNER_COLUMN}")
    else:
        op.add_column("cases", sa.Column("owner_id", ID, nullable=True))
        op.create_foreign_key(
            "fk_cases_owner_id_staff_members", "cases", "staff_members", ["owner_id"], ["id"]
        )
    op.add_column(
        "cases",
        sa.Column("owner_pinned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_index("ix_cases_owner_id", "cases", ["owner_id"])
    op.create_table(
        "assignment_rules",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("min_amount", ID, nullable=True),
        sa.Column("max_amount", ID, nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "stage IN (" + ", ".join(f"'{stage}'" for stage in STAGES) + ")",
            name="stage",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_rules")),
    )
    op.create_table(
        "assignment_rule_agents",
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["assignment_rules.id"],
            name=op.f("fk_assignment_rule_agents_rule_id_assignment_rules"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_assignment_rule_agents_staff_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("rule_id", "staff_id", name=op.f("pk_assignment_rule_agents")),
    )


def downgrade() -> None:
    op.drop_table("assignment_rule_agents")
    op.drop_table("assignment_rules")
    op.drop_index("ix_cases_owner_id", table_name="cases")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # No rebuild of cases (see upgrade): SQLite drops a column that no constraint
        # names, so the REFERENCES clause goes from the stored definition first.
        _unreference_owner_on_sqlite(bind)
        op.execute("ALTER TABLE cases DROP COLUMN owner_pinned")
        op.execute("ALTER TABLE cases DROP COLUMN owner_id")
    else:
        op.drop_constraint("fk_cases_owner_id_staff_members", "cases", type_="foreignkey")
        op.drop_column("cases", "owner_pinned")
        op.drop_column("cases", "owner_id")
    with op.batch_alter_table("staff_members") as batch_op:
        batch_op.drop_column("away")
        batch_op.drop_column("capacity")


OWNER_COLUMN = "owner_id INTEGER REFERENCES staff_members (id)"


def _unreference_owner_on_sqlite(bind: Connection) -> None:
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'cases'"
    ).scalar_one()
    if OWNER_COLUMN not in sql:
        raise RuntimeError(f"unexpected definition of cases: {sql!r}")
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'cases'",
            (sql.replace(OWNER_COLUMN, "owner_id INTEGER"),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
