"""the queue's phone search by b-tree on PostgreSQL: the phone digits with
``varchar_pattern_ops`` (a whole number and its start) in place of the trigram index,
and the reversed digits with ``text_pattern_ops`` (its end, and a national number after
a country code), so each match is a range of an index. A trigram index read every phone
sharing the typed number's trigrams: at a million borrowers, most of them. SQLite keeps
its plain index on the digits (it has no ``reverse()``; its search reads the column).

Revision ID: 0016_million
Revises: 0015_hook
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0016_million"
down_revision = "0015_hook"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_borrowers_phone_digits", table_name="borrowers")
    op.create_index(
        "ix_borrowers_phone_digits",
        "borrowers",
        ["phone_digits"],
        postgresql_ops={"phone_digits": "varchar_pattern_ops"},
    )
    op.execute(
        "CREATE INDEX ix_borrowers_phone_digits_reversed"
        " ON borrowers (reverse(phone_digits) text_pattern_ops)"
    )
    op.execute("ANALYZE borrowers")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_borrowers_phone_digits_reversed", table_name="borrowers")
    op.drop_index("ix_borrowers_phone_digits", table_name="borrowers")
    op.create_index(
        "ix_borrowers_phone_digits",
        "borrowers",
        ["phone_digits"],
        postgresql_using="gin",
        postgresql_ops={"phone_digits": "gin_trgm_ops"},
    )
