"""chat_accounts: a borrower's LINE or WeChat account, linked with their consent; and
the contact cells' channel CHECKs widened to the two chat channels

The channel CHECKs of migration 0037 (``contact_cells``, ``contact_opt_out_cells``) are
widened: on PostgreSQL dropped and added again (NOT VALID, then validated outside the
transaction); on SQLite by changing the clause in the table's stored definition, as
0009 does.

Revision ID: 0036_chat_accounts
Revises: 0035_agency_access
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0036_chat_accounts"
down_revision = "0035_agency_access"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BEFORE = ("sms", "email", "letter", "call")
AFTER = (*BEFORE, "line", "wechat")
CELLS = ("contact_cells", "contact_opt_out_cells")


def upgrade() -> None:
    op.create_table(
        "chat_accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("borrower_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "linked",
                "unlinked",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terms_version", sa.String(length=16), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unlinked_by", sa.String(length=16), nullable=True),
        sa.CheckConstraint("channel IN ('line', 'wechat')", name=op.f("ck_chat_accounts_channel")),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_chat_accounts_borrower_id_borrowers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_accounts")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_chat_accounts_token_hash")),
    )
    op.create_index(
        "ix_chat_accounts_borrower_channel", "chat_accounts", ["borrower_id", "channel"]
    )
    op.create_index("ix_chat_accounts_account", "chat_accounts", ["channel", "account_id"])
    op.create_index(
        "uq_chat_accounts_linked_account",
        "chat_accounts",
        ["channel", "account_id"],
        unique=True,
        sqlite_where=sa.text("status = 'linked'"),
        postgresql_where=sa.text("status = 'linked'"),
    )
    for table in CELLS:
        _change(table, BEFORE, AFTER)


def downgrade() -> None:
    bind = op.get_bind()
    for table in CELLS:
        if bind.exec_driver_sql(
            f"SELECT 1 FROM {table} WHERE channel IN ('line', 'wechat')"  # noqa: S608 (constants)
        ).first():
            raise RuntimeError(f"{table} counts chat messages: they would not fit")
        _change(table, AFTER, BEFORE)
    op.drop_index("uq_chat_accounts_linked_account", table_name="chat_accounts")
    op.drop_index("ix_chat_accounts_account", table_name="chat_accounts")
    op.drop_index("ix_chat_accounts_borrower_channel", table_name="chat_accounts")
    op.drop_table("chat_accounts")


def _condition(values: tuple[str, ...]) -> str:
    return f"channel IN ({', '.join(repr(value) for value in values)})"


def _change(table: str, old: tuple[str, ...], new: tuple[str, ...]) -> None:
    name = f"ck_{table}_channel"
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rewrite_sqlite(bind, table, name, old, new)
        return
    op.drop_constraint(op.f(name), table, type_="check")
    op.create_check_constraint(op.f(name), table, _condition(new), postgresql_not_valid=True)
    with op.get_context().autocommit_block():
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def _rewrite_sqlite(
    bind: Connection, table: str, name: str, old: tuple[str, ...], new: tuple[str, ...]
) -> None:
    before = f"CONSTRAINT {name} CHECK ({_condition(old)})"
    after = f"CONSTRAINT {name} CHECK ({_condition(new)})"
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if before not in sql:
        raise RuntimeError(f"{table} has no constraint {before!r}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql.replace(before, after), table),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
