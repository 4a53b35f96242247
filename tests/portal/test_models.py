"""The models: statuses are closed sets the database enforces, and stored times read back
as aware UTC on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from portal.core import db, migrate
from portal.models import (
    AdjustmentStatus,
    Case,
    CaseStatus,
    ExceptionStatus,
    HoldAdjustment,
    LoanCharge,
    LoanInstallment,
    Message,
    MessageStatus,
    Offer,
    OfferStatus,
    Payment,
    PaymentStatus,
    Plan,
    PlanInstallment,
    PlanStatus,
    Promise,
    PromiseStatus,
    ReconciliationException,
    ReconciliationRun,
    RunStatus,
)

from .factories import NOW, build_case

# Each status column with its enum: the CHECK constraint of migration 0008 allows exactly
# the enum's values.
STATUS_COLUMNS = [
    (Case.status, CaseStatus),
    (Offer.status, OfferStatus),
    (Plan.status, PlanStatus),
    (Payment.status, PaymentStatus),
    (Message.status, MessageStatus),
    (Promise.status, PromiseStatus),
    (ReconciliationRun.status, RunStatus),
    (HoldAdjustment.status, AdjustmentStatus),
    (ReconciliationException.status, ExceptionStatus),
]


def _run(session, status="completed"):
    run = ReconciliationRun(
        started_at=NOW, since=NOW - timedelta(days=1), until=NOW, started_by="cli", status=status
    )
    session.add(run)
    session.flush()
    return run


def test_an_unknown_status_is_refused_by_the_database(app):
    built = build_case(app)
    with app.test_request_context("/"):
        session = db.session()
        for column in (Case.status, Case.stage, Case.hold):
            with pytest.raises(IntegrityError, match=r"(?i)check"):
                session.execute(
                    update(Case).where(Case.id == built.case_id).values({column.key: "bogus"})
                )
            session.rollback()
        with pytest.raises(IntegrityError, match=r"(?i)check"):
            _run(session, status="running")
        session.rollback()
        # Every known code is accepted, and read back as the enum's member.
        case = session.get(Case, built.case_id)
        for status in CaseStatus:
            case.status = status
            session.flush()
        session.commit()
        session.expire_all()
        case = session.get(Case, built.case_id)
        assert case.status is CaseStatus.RESOLVED
        assert case.status == "resolved"  # a StrEnum still equals its stored text
        stored = session.execute(
            text("SELECT status FROM cases WHERE id = :id"), {"id": built.case_id}
        ).scalar_one()
        assert stored == "resolved"
        assert type(stored) is str


@pytest.mark.parametrize(("column", "enum"), STATUS_COLUMNS, ids=lambda v: getattr(v, "key", ""))
def test_each_status_constraint_allows_exactly_the_enum(app, column, enum):
    table = column.class_.__tablename__
    with app.app_context(), db.engine().connect() as connection:
        if connection.dialect.name == "sqlite":
            definition = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).scalar_one()
        else:
            definition = connection.exec_driver_sql(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
                (f"ck_{table}_status",),
            ).scalar_one()
    for member in enum:
        assert f"'{member.value}'" in definition
    assert definition.count("'") // 2 >= len(enum)


def test_stored_times_read_back_as_aware_utc(app):
    built = build_case(app)
    with app.test_request_context("/"):
        session = db.session()
        naive = datetime(2026, 11, 30, 2, 0)  # noqa: DTZ001 (taken as UTC, as every stored time is)
        taipei = datetime(2026, 11, 30, 10, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Taipei"))
        case = session.get(Case, built.case_id)
        case.hold_since = naive
        case.last_contact_at = taipei
        session.commit()
        session.expire_all()
        case = session.get(Case, built.case_id)
        assert case.hold_since == NOW
        assert case.hold_since.tzinfo is UTC
        assert case.last_contact_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
        assert case.last_contact_at.utcoffset() == timedelta(0)
        found = session.scalars(select(Case.id).where(Case.hold_since == naive)).all()
        assert found == [built.case_id]


def test_the_status_checks_migrate_down_and_up_again(app, backend):
    built = build_case(app)
    config = migrate.alembic_config(app)
    command.downgrade(config, "0007")
    with app.test_request_context("/"):
        session = db.session()
        session.execute(
            text("UPDATE cases SET stage = 'unheard' WHERE id = :id"), {"id": built.case_id}
        )
        session.commit()
        with pytest.raises(RuntimeError, match="unheard"):
            migrate.upgrade(app)
        session.execute(
            text("UPDATE cases SET stage = 'late' WHERE id = :id"), {"id": built.case_id}
        )
        session.commit()
        db.engine().dispose()
    migrate.upgrade(app)
    with app.test_request_context("/"):
        session = db.session()
        with pytest.raises(IntegrityError):
            session.execute(
                text("UPDATE cases SET stage = 'unheard' WHERE id = :id"), {"id": built.case_id}
            )
        session.rollback()
        assert session.get(Case, built.case_id).stage == "late"


def test_a_plan_knows_its_next_installment_and_what_is_left():
    plan = Plan(
        installments=[
            PlanInstallment(sequence=1, due_date=date(2026, 12, 1), amount=1_000, paid=1_000),
            PlanInstallment(sequence=2, due_date=date(2027, 1, 1), amount=1_000, paid=400),
            PlanInstallment(sequence=3, due_date=date(2027, 2, 1), amount=1_200, paid=0),
        ]
    )
    assert plan.next_due is plan.installments[1]
    assert [i.outstanding for i in plan.installments] == [0, 600, 1_200]
    assert plan.outstanding == 1_800
    for installment in plan.installments:
        installment.paid = installment.amount
    assert plan.next_due is None
    assert plan.outstanding == 0


def test_what_is_owed_is_one_definition_in_python_and_in_sql(app):
    built = build_case(app, days_past_due=47, paid=4)
    with app.test_request_context("/"):
        session = db.session()
        loan = session.get(Case, built.case_id).loan
        by_python = sum(i.unpaid for i in loan.installments) + sum(
            c.outstanding for c in loan.charges
        )
        by_sql = (
            session.execute(
                select(func.sum(LoanInstallment.unpaid)).where(LoanInstallment.loan_id == loan.id)
            ).scalar_one()
            + session.execute(
                select(func.sum(LoanCharge.outstanding)).where(LoanCharge.loan_id == loan.id)
            ).scalar_one()
        )
        assert by_python == by_sql == 8 * 550_000 + 45_000


def test_the_migrated_check_constraints_carry_the_models_names(app):
    """A migration that names its CHECK constraint in full (``ck_table_column``) gets the
    naming convention's prefix twice; the model's name is the one to drop or alter by."""
    from sqlalchemy import CheckConstraint, inspect

    from portal.models import Base

    expected = {
        (table.name, str(constraint.name))
        for table in Base.metadata.sorted_tables
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint) and constraint.name
    }
    with app.app_context(), db.engine().connect() as connection:
        inspector = inspect(connection)
        found = {
            (table, check["name"])
            for table in inspector.get_table_names()
            for check in inspector.get_check_constraints(table)
        }
    doubled = sorted(name for _table, name in found if name.count("ck_") > 1)
    assert doubled == []
    assert sorted(expected - found) == []
