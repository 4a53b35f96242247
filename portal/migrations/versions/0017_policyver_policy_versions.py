"""policy versions: each version of the collection policy (an override file) with who
made it and who checked it; plans and offers name the version that decided them. The
first version is recorded by the app at its first request (the configured file), since
a migration does not know the app's configuration; plans and offers made before stay
without a version.

Revision ID: 0014_policyver
Revises: 0014_callbacks
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_policyver"
down_revision = "0014_callbacks"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("version", ID, autoincrement=False, nullable=False),
        sa.Column("based_on", ID, nullable=True),
        sa.Column("override_toml", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("made_by", sa.String(length=254), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("checked_by", sa.String(length=254), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_policy_versions"),
        sa.CheckConstraint(
            "status IN ('proposed', 'active', 'rejected', 'superseded')",
            name="ck_policy_versions_status",
        ),
    )
    for status in ("active", "proposed"):
        op.create_index(
            f"uq_policy_versions_one_{status}",
            "policy_versions",
            ["status"],
            unique=True,
            sqlite_where=sa.text(f"status = '{status}'"),
            postgresql_where=sa.text(f"status = '{status}'"),
        )
    for table in ("plans", "offers"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("policy_version", ID, nullable=True))
            batch.create_foreign_key(
                f"fk_{table}_policy_version_policy_versions",
                "policy_versions",
                ["policy_version"],
                ["version"],
            )


def downgrade() -> None:
    for table in ("offers", "plans"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_policy_version_policy_versions", type_="foreignkey")
            batch.drop_column("policy_version")
    op.drop_index("uq_policy_versions_one_proposed", table_name="policy_versions")
    op.drop_index("uq_policy_versions_one_active", table_name="policy_versions")
    op.drop_table("policy_versions")
