"""the admin console's staff: teams (a member's team; a rule may feed one), one-time
set-up links for new members (the token's SHA-256 only), and whether a member must have a
one-time code (with the secret being enrolled)

Revision ID: 0014_staffadmin
Revises: 0014_policyver
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0014_staffadmin"
down_revision = "0014_policyver"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The new references, as SQLite's plain ADD COLUMN writes them (no table rebuild: see
# 0013), and as they are written back without the reference on the way down.
REFERENCES = {
    "staff_members": "team_id INTEGER REFERENCES teams (id)",
    "assignment_rules": "team_id INTEGER REFERENCES teams (id)",
}


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "staff_set_up_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_set_up_links_staff_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_set_up_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_set_up_links_token_hash")),
    )
    op.create_index("ix_staff_set_up_links_staff_id", "staff_set_up_links", ["staff_id"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, definition in REFERENCES.items():
        if sqlite:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {definition}")
        else:
            op.add_column(table, sa.Column("team_id", ID, nullable=True))
            op.create_foreign_key(f"fk_{table}_team_id_teams", table, "teams", ["team_id"], ["id"])
    op.create_index("ix_staff_members_team_id", "staff_members", ["team_id"])
    op.add_column(
        "staff_members",
        sa.Column("totp_required", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "staff_members", sa.Column("totp_pending_secret", sa.String(length=64), nullable=True)
    )


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("ALTER TABLE staff_members DROP COLUMN totp_pending_secret")
        op.execute("ALTER TABLE staff_members DROP COLUMN totp_required")
    else:
        op.drop_column("staff_members", "totp_pending_secret")
        op.drop_column("staff_members", "totp_required")
    op.drop_index("ix_staff_members_team_id", table_name="staff_members")
    for table, definition in REFERENCES.items():
        if sqlite:
            _unreference_on_sqlite(bind, table, definition)
            op.execute(f"ALTER TABLE {table} DROP COLUMN team_id")
        else:
            op.drop_constraint(f"fk_{table}_team_id_teams", table, type_="foreignkey")
            op.drop_column(table, "team_id")
    op.drop_index("ix_staff_set_up_links_staff_id", table_name="staff_set_up_links")
    op.drop_table("staff_set_up_links")
    op.drop_table("teams")


def _unreference_on_sqlite(bind: Connection, table: str, definition: str) -> None:
    """SQLite drops only a column no constraint names: the REFERENCES clause goes from
    the stored definition first (as 0013 does for ``cases.owner_id``)."""
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if definition not in sql:
        raise RuntimeError(f"unexpected definition of {table}: {sql!r}")
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql.replace(definition, "team_id INTEGER"), table),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
