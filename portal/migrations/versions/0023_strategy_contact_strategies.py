"""contact strategies: the versions that ran, the pause switch, each step planned for a
case (once per case, step and occurrence), each case's arm of an experiment; a call step
is a callback from the strategy and a letter step a "letter due" flag; case events and
verifications are read by time (a stage entered, a plan broken, a link opened).

On SQLite the two widened CHECK constraints are rewritten in the stored table
definitions, as migration 0008 writes its checks (no table rebuild).

Revision ID: 0014_strategy
Revises: 0014_borrowercontact
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0014_strategy"
down_revision = "0014_borrowercontact"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLAG_REASONS = (
    "verification_locked",
    "promise_broken",
    "hold_placed",
    "hold_review",
    "hold_ended",
    "borrower_request",
    "agent",
    "other",
)
# (table, constraint, column, values before, values after)
WIDENED = (
    (
        "callbacks",
        "ck_callbacks_source",
        "source",
        ("borrower", "agent"),
        ("borrower", "agent", "strategy"),
    ),
    ("case_flags", "ck_case_flags_reason", "reason", FLAG_REASONS, (*FLAG_REASONS, "letter_due")),
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


def upgrade() -> None:
    op.create_table(
        "strategy_versions",
        sa.Column("version", ID, nullable=False),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_strategy_versions"),
        sa.CheckConstraint(_in("source", ("file", "promotion")), name="source"),
    )
    op.create_index("ix_strategy_versions_digest", "strategy_versions", ["digest"])
    op.create_table(
        "strategy_switches",
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=254), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_strategy_switches"),
    )
    op.create_table(
        "strategy_steps",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("step", sa.String(length=48), nullable=False),
        sa.Column("occurrence", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("version", ID, nullable=False),
        sa.Column("variant", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("template", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("callback_id", ID, nullable=True),
        sa.Column("flag_id", ID, nullable=True),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_strategy_steps_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["version"],
            ["strategy_versions.version"],
            name="fk_strategy_steps_version_strategy_versions",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_strategy_steps_message_id_messages"
        ),
        sa.ForeignKeyConstraint(
            ["callback_id"], ["callbacks.id"], name="fk_strategy_steps_callback_id_callbacks"
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"], ["case_flags.id"], name="fk_strategy_steps_flag_id_case_flags"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_strategy_steps"),
        sa.UniqueConstraint("case_id", "step", "occurrence", name="uq_strategy_steps_occurrence"),
        sa.CheckConstraint(_in("status", ("queued", "deferred", "task", "skipped")), name="status"),
    )
    op.create_index("ix_strategy_steps_case_id", "strategy_steps", ["case_id"])
    op.create_index("ix_strategy_steps_message_id", "strategy_steps", ["message_id"])
    op.create_index("ix_strategy_steps_as_of_step", "strategy_steps", ["as_of", "step"])
    op.create_table(
        "experiment_assignments",
        sa.Column("id", ID, nullable=False),
        sa.Column("experiment", sa.String(length=48), nullable=False),
        sa.Column("arm", sa.String(length=48), nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("version", ID, nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("arrears", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_experiment_assignments_case_id_cases"
        ),
        sa.ForeignKeyConstraint(
            ["version"],
            ["strategy_versions.version"],
            name="fk_experiment_assignments_version_strategy_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_experiment_assignments"),
        sa.UniqueConstraint("experiment", "case_id", name="uq_experiment_assignments_case"),
    )
    op.create_index("ix_experiment_assignments_case_id", "experiment_assignments", ["case_id"])
    op.create_index(
        "ix_experiment_assignments_arm", "experiment_assignments", ["experiment", "arm"]
    )
    op.create_table(
        "strategy_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("version", ID, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["strategy_versions.version"],
            name="fk_strategy_runs_version_strategy_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_strategy_runs"),
    )
    op.create_index("ix_strategy_runs_as_of", "strategy_runs", ["as_of"])
    op.create_index("ix_case_events_kind_at", "case_events", ["kind", "at"])
    op.create_index("ix_verification_attempts_at", "verification_attempts", ["at"])
    _widen(op.get_bind(), wider=True)


def downgrade() -> None:
    _widen(op.get_bind(), wider=False)
    op.drop_index("ix_verification_attempts_at", table_name="verification_attempts")
    op.drop_index("ix_case_events_kind_at", table_name="case_events")
    op.drop_table("strategy_runs")
    op.drop_table("experiment_assignments")
    op.drop_table("strategy_steps")
    op.drop_table("strategy_switches")
    op.drop_table("strategy_versions")


def _widen(bind: Connection, *, wider: bool) -> None:
    """Let the two columns hold the new codes (or, going down, only the old ones)."""
    if bind.dialect.name != "sqlite":
        for table, name, column, before, after in WIDENED:
            op.drop_constraint(op.f(name), table, type_="check")
            op.create_check_constraint(op.f(name), table, _in(column, after if wider else before))
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        for table, _name, column, before, after in WIDENED:
            old, new = (_in(column, before), _in(column, after))
            if not wider:
                old, new = new, old
            sql = bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).scalar_one()
            if old not in sql:
                raise RuntimeError(f"unexpected definition of {table}: {sql!r}")
            bind.exec_driver_sql(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                (sql.replace(old, new), table),
            )
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
