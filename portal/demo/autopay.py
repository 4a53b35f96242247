"""The demo's automatic payments: four named borrowers whose plans pay themselves on the
sandbox's test cards, each made by the autopay run itself at moments in the last few
days (10:00 on the borrower's clock), so the case page, finance's payments and the
plan-kept report have something to show:

- Emily Tsai: on with the test card 4242; her first installment was charged three days
  ago, the next is charged on its day (``haohuan payments autopay`` with the clock moved).
- 李娜: her card 0341 was declined on the due date five days ago (a notice of the retry
  queued), she saved the card 4242 the next day, and the retry two days ago was charged.
- 林志明: his saved card had expired by his first due date two days ago: autopay turned
  itself off and he was told to add another card or pay by hand.
- Wong Chi Ming: on with 4242, his first installment due in three days.

The cards are written as the sandbox's card page would save them (its page is the
borrower's side); everything else goes through the portal's services. Deterministic:
the same borrowers, days and cards on every run; a database with any autopay already is
left alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.cases.facts import live_plan
from portal.demo.seed import accept_arrears_plan
from portal.models import (
    Autopay,
    Borrower,
    CardStatus,
    Case,
    Loan,
    Plan,
    SavedCard,
)
from portal.payments import autopay
from portal.payments.sandbox import TEST_CARD_EXPIRY

# The named borrowers (their index in ``seed.PEOPLE``), and what each shows.
ON = 8  # Emily Tsai
RETRIED = 11  # 李娜
EXPIRED = 1  # 林志明
UPCOMING = 24  # Wong Chi Ming
NOTES = {
    ON: "autopay on (test card 4242): first installment charged",
    RETRIED: "autopay: declined on card 0341, charged on retry with 4242",
    EXPIRED: "autopay turned off: the saved card expired",
    UPCOMING: "autopay on (test card 4242): first installment in 3 days",
}


def _case(db: Session, index: int) -> Case:
    return db.scalars(
        select(Case)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Borrower.reference == f"B-{index + 1:05d}")
    ).one()


def _at(day: date, case: Case) -> datetime:
    """10:00 on ``day`` on the borrower's clock: inside their allowed hours."""
    zone = ZoneInfo(case.loan.borrower.timezone)
    return datetime(day.year, day.month, day.day, 10, tzinfo=zone).astimezone(UTC)


def _card(
    db: Session, case: Case, last4: str, moment: datetime, expiry: date | None = None
) -> None:
    """The test card ``last4`` saved by the borrower at ``moment`` (ending any card they
    had), as the sandbox's card page saves it; autopay waiting for a card moves to it."""
    borrower_id = case.loan.borrower_id
    old = autopay.active_card(db, borrower_id)
    if old is not None:
        old.status, old.ended_at = CardStatus.REMOVED, moment
        db.flush()
    month, year = (expiry.month, expiry.year) if expiry else TEST_CARD_EXPIRY
    card = SavedCard(
        borrower_id=borrower_id,
        gateway="sandbox",
        customer_ref=f"sbx_cus_{borrower_id}",
        method_ref=f"sbx_pm_{borrower_id}_demo{int(moment.timestamp())}_{last4}",
        brand="visa",
        last4=last4,
        exp_month=month,
        exp_year=year,
        created_at=moment,
    )
    db.add(card)
    db.flush()
    plan = live_plan(db, case)
    live = autopay.live_autopay(db, plan.id) if plan is not None else None
    if live is not None:
        live.card_id = card.id
    db.commit()


def _on_autopay(
    db: Session, case: Case, last4: str, first_due: date, expiry: date | None = None
) -> None:
    """The borrower accepts a plan paid from ``first_due`` on that day (or now, for a
    later one) with a card saved, and consents to autopay: on at once."""
    moment = _at(first_due, case)
    accept_arrears_plan(db, case, first_due, moment, first_due=first_due)
    _card(db, case, last4, moment, expiry)
    consent = autopay.MandateConsent("127.0.0.1", "demo", case.loan.borrower.locale, "demo")
    autopay.enroll(db, case, consent, moment)


def seed_autopay(db: Session, today: date, now: datetime) -> None:
    """The four borrowers above, in the order their days came. Commits."""
    if db.scalars(select(Autopay.id).limit(1)).first() is not None:
        return
    retried, on, expired, upcoming = (_case(db, i) for i in (RETRIED, ON, EXPIRED, UPCOMING))
    # Five days ago: 李娜's first charge is declined.
    day = today - timedelta(days=5)
    _on_autopay(db, retried, "0341", day)
    autopay.run(db, _at(day, retried))
    # The day after, she saves another card.
    _card(db, retried, "4242", _at(today - timedelta(days=4), retried))
    # Three days ago: Emily Tsai's first installment is charged.
    day = today - timedelta(days=3)
    _on_autopay(db, on, "4242", day)
    autopay.run(db, _at(day, on))
    # Two days ago: 李娜's retry is charged; 林志明's card expired last month.
    day = today - timedelta(days=2)
    _on_autopay(db, expired, "4242", day, expiry=day.replace(day=1) - timedelta(days=1))
    autopay.run(db, _at(day, expired))
    # Today: Wong Chi Ming, first installment in three days.
    moment = min(now, _at(today, upcoming))
    accept_arrears_plan(db, upcoming, today, moment, first_due=today + timedelta(days=3))
    _card(db, upcoming, "4242", moment)
    consent = autopay.MandateConsent("127.0.0.1", "demo", upcoming.loan.borrower.locale, "demo")
    autopay.enroll(db, upcoming, consent, moment)


def notes(db: Session) -> dict[int, str]:
    """What the demo's printout says of each of these borrowers' cases (case id: note)."""
    found = {}
    for index, note in NOTES.items():
        case = _case(db, index)
        if db.scalars(
            select(Autopay.id).join(Plan, Plan.id == Autopay.plan_id).where(Plan.case_id == case.id)
        ).first():
            found[case.id] = note
    return found
