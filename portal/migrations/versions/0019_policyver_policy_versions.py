"""policy versions: each version of the collection policy (an override file) with who
made it and who checked it; plans and offers name the version that decided them. The
first version is recorded by the app at its first request (the configured file), since
a migration does not know the app's configuration; plans and offers made before stay
without a version.

Revision ID: 0014_policyver
Revises: 0014_mywork
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_policyver"
down_revision = "0014_mywork"
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
            name="status",
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
        _add_version_column(table)


def _foreign_key(table: str) -> str:
    return f"fk_{table}_policy_version_policy_versions"


def _add_version_column(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its foreign key in place (Alembic would rebuild the
        # table, which other tables' foreign keys refer to), as 0011 does.
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN policy_version INTEGER "
            f"CONSTRAINT {_foreign_key(table)} REFERENCES policy_versions (version)"
        )
        return
    op.add_column(table, sa.Column("policy_version", ID, nullable=True))
    op.create_foreign_key(
        _foreign_key(table), table, "policy_versions", ["policy_version"], ["version"]
    )


def _drop_version_column(table: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(_foreign_key(table), table, type_="foreignkey")
        op.drop_column(table, "policy_version")
        return
    # SQLite drops no column a foreign key names: take the clause out of the stored
    # definition first (as 0011 does), then drop the column.
    clause = f" CONSTRAINT {_foreign_key(table)} REFERENCES policy_versions (version)"
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql.replace(clause, ""), table),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    op.execute(f"ALTER TABLE {table} DROP COLUMN policy_version")


def downgrade() -> None:
    for table in ("offers", "plans"):
        _drop_version_column(table)
    op.drop_index("uq_policy_versions_one_proposed", table_name="policy_versions")
    op.drop_index("uq_policy_versions_one_active", table_name="policy_versions")
    op.drop_table("policy_versions")
