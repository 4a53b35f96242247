"""Reminder links and borrower verification.

A link alone shows nothing about the debt and authorizes nothing: the borrower must
confirm a fact the lender holds. Failures are counted per link, per borrower per day and
per address per hour, so guessing a date of birth is not a practical attack.

Commits: ``verify`` commits its verdict with the attempt it records, and
``end_link_sessions`` commits the sessions' end; ``issue_link`` adds the link to the
caller's transaction (the message or letter that carries it) and does not commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased, joinedload

from portal.access.addresses import address_hash
from portal.cases.facts import record_event
from portal.cases.flags import raise_flag
from portal.core.db import MAX_ID, lock_row
from portal.core.hashing import (
    DateOrder,
    fact_matches,
    new_token,
    normalise_date_of_birth,
    normalise_id_last4,
    token_hash,
)
from portal.models import (
    Borrower,
    Case,
    FlagReason,
    Loan,
    Offer,
    ReminderLink,
    VerificationAttempt,
)
from portal.reporting.funnel import VERIFIED_EVENT

LINK_LIFETIME = timedelta(days=7)
# A letter spends days in the post and on a table before it is read.
LETTER_LINK_LIFETIME = timedelta(days=30)
FAILURES_PER_LINK = 5
FAILURES_PER_BORROWER_PER_DAY = 10
FAILURES_PER_ADDRESS_PER_HOUR = 20


class LinkState(StrEnum):
    """What a link is worth right now."""

    USABLE = "usable"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DISABLED = "disabled"


class Verdict(StrEnum):
    """The outcome of one verification attempt."""

    VERIFIED = "verified"
    WRONG = "wrong"
    UNREADABLE = "unreadable"
    LINK_DISABLED = "link_disabled"
    BORROWER_LOCKED = "borrower_locked"
    ADDRESS_LIMITED = "address_limited"


class FactKind(StrEnum):
    """The facts a borrower may confirm."""

    DATE_OF_BIRTH = "date_of_birth"
    ID_LAST4 = "id_last4"


def issue_link(
    db: Session,
    case: Case,
    now: datetime,
    *,
    offer: Offer | None = None,
    lifetime: timedelta = LINK_LIFETIME,
) -> str:
    """Create a link for ``case`` (carrying ``offer`` when given) that works for
    ``lifetime``; returns the token, which is shown once and never stored. Does not
    commit: the link belongs to the transaction of what carries it."""
    token = new_token()
    db.add(
        ReminderLink(
            case_id=case.id,
            token_hash=token_hash(token),
            purpose="offer" if offer else "status",
            offer_id=offer.id if offer else None,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def issue_links(
    db: Session,
    wanted: Sequence[tuple[int, int | None]],
    now: datetime,
    *,
    lifetime: timedelta = LINK_LIFETIME,
    tokens: Sequence[str] | None = None,
) -> list[tuple[str, int]]:
    """``issue_link`` for many at once: for each ``(case_id, offer_id)`` a link that works
    for ``lifetime``, stored in one statement; returns each one's token and id, in the
    order asked. ``tokens``: drawn beforehand with ``new_token``, one for each, by a
    caller that writes the words carrying them before it knows which it will send. The
    tokens are shown once and never stored. Does not commit."""
    if not wanted:
        return []
    if tokens is None:
        tokens = [new_token() for _ in wanted]
    rows = [
        {
            "case_id": case_id,
            "token_hash": token_hash(token),
            "purpose": "offer" if offer_id else "status",
            "offer_id": offer_id,
            "created_at": now,
            "expires_at": now + lifetime,
        }
        for (case_id, offer_id), token in zip(wanted, tokens, strict=True)
    ]
    ids = db.scalars(
        insert(ReminderLink).returning(ReminderLink.id, sort_by_parameter_order=True), rows
    ).all()
    return list(zip(tokens, ids, strict=True))


def find_link(db: Session, token: str, now: datetime) -> tuple[LinkState, ReminderLink | None]:
    """The link a token names and whether it may be used."""
    if not 20 <= len(token) <= 100:
        return LinkState.UNKNOWN, None
    link = db.scalars(
        select(ReminderLink).where(ReminderLink.token_hash == token_hash(token))
    ).first()
    return link_state(link, now), link


def link_state(link: ReminderLink | SessionFacts | None, now: datetime) -> LinkState:
    """Whether ``link`` may be used at ``now``."""
    if link is None:
        return LinkState.UNKNOWN
    if link.revoked_at is not None:
        return LinkState.REVOKED
    if link.disabled_at is not None:
        return LinkState.DISABLED
    if link.expires_at <= now:
        return LinkState.EXPIRED
    return LinkState.USABLE


def end_link_sessions(db: Session, link: ReminderLink) -> None:
    """End every borrower session begun from ``link`` (signing out: a copied cookie
    stops working too). Commits."""
    link.session_generation += 1
    db.commit()


@dataclass(frozen=True)
class SessionFacts:
    """What a borrower page needs to know before it loads the case: the session's link
    (its state, as ``link_state`` reads it), the case the borrower is looking at (the
    link's own, or another of the same borrower's: ``case_id``) and its ids, the
    borrower's language and clock, the loan's currency, and how many loans the borrower
    has (more than one: the pages list them)."""

    link_id: int
    case_id: int
    loan_id: int
    borrower_id: int
    expires_at: datetime
    revoked_at: datetime | None
    disabled_at: datetime | None
    session_generation: int
    locale: str
    timezone: str
    currency: str
    link_case_id: int
    loan_count: int


def session_facts(db: Session, link_id: int, case_id: int) -> SessionFacts | None:
    """The facts of the link a borrower session began from, when it is ``link_id`` and
    ``case_id`` is a case of the same borrower as the link's (the link's own, or one the
    borrower switched to): one statement, no ORM objects (a page served from the page
    cache loads nothing else). None for any other case: a session never reaches another
    person's loan."""
    if not (0 < link_id <= MAX_ID and 0 < case_id <= MAX_ID):
        return None
    # Core, not the ORM session's execute: every borrower request runs it first.
    values = {"link_id": link_id, "case_id": case_id}
    row = db.connection().execute(_session_facts_query(), values).first()
    return SessionFacts(*row) if row is not None else None


@cache
def _session_facts_query() -> Select[*tuple[Any, ...]]:
    # Built once: building the select took longer than running it.
    link_case, link_loan, counted = aliased(Case), aliased(Loan), aliased(Loan)
    loans = (
        select(func.count(counted.id))
        .where(counted.borrower_id == link_loan.borrower_id)
        .scalar_subquery()
    )
    return (
        select(
            ReminderLink.id,
            Case.id,
            Case.loan_id,
            Loan.borrower_id,
            ReminderLink.expires_at,
            ReminderLink.revoked_at,
            ReminderLink.disabled_at,
            ReminderLink.session_generation,
            Borrower.locale,
            Borrower.timezone,
            Loan.currency,
            ReminderLink.case_id,
            loans,
        )
        .join(link_case, link_case.id == ReminderLink.case_id)
        .join(link_loan, link_loan.id == link_case.loan_id)
        .join(Borrower, Borrower.id == link_loan.borrower_id)
        .join(Loan, Loan.borrower_id == Borrower.id)
        .join(Case, Case.loan_id == Loan.id)
        .where(ReminderLink.id == bindparam("link_id"), Case.id == bindparam("case_id"))
    )


def borrower_case(db: Session, case_id: int) -> Case | None:
    """The case a borrower session sees, with what every borrower page reads: the loan,
    its borrower, installments and charges (loaded at once)."""
    if not 0 < case_id <= MAX_ID:
        return None
    return db.get(
        Case,
        case_id,
        options=[
            joinedload(Case.loan).joinedload(Loan.borrower),
            joinedload(Case.loan).selectinload(Loan.installments),
            joinedload(Case.loan).selectinload(Loan.charges),
        ],
    )


@dataclass(frozen=True)
class Attempt:
    """One verification attempt as the borrower made it."""

    kind: FactKind
    answer: str
    address: str
    # The device class of the borrower's browser (``portal.reporting.funnel``), noted
    # with a right answer for the portal funnel; nothing else of the browser is kept.
    device: str | None = None


def verify(db: Session, link: ReminderLink, attempt: Attempt, now: datetime) -> Verdict:
    """Check an answer against the borrower's stored fact, enforcing every limit.

    Records the attempt and commits, whatever the verdict: a failed attempt must be kept
    too (and the link and borrower rows locked while judging are let go).
    """
    verdict = _judge(db, link, attempt, now)
    db.commit()
    return verdict


def _judge(db: Session, link: ReminderLink, attempt: Attempt, now: datetime) -> Verdict:
    # Concurrent guesses are serialised on the link and the borrower, so no burst of
    # answers outruns the limits.
    lock_row(db, ReminderLink, link.id)
    db.refresh(link)
    borrower = link.case.loan.borrower
    lock_row(db, Borrower, borrower.id)
    hashed_address = address_hash(attempt.address)
    if link.disabled_at is not None:
        return Verdict.LINK_DISABLED
    if (
        _attempts_from(db, hashed_address, now - timedelta(hours=1))
        >= FAILURES_PER_ADDRESS_PER_HOUR
    ):
        return Verdict.ADDRESS_LIMITED
    if _failures_of(db, borrower.id, now - timedelta(days=1)) >= FAILURES_PER_BORROWER_PER_DAY:
        return Verdict.BORROWER_LOCKED
    fact = _normalised(attempt, DATE_ORDERS.get(link.case.loan.currency))
    if fact is None:
        return Verdict.UNREADABLE
    stored = (
        borrower.date_of_birth_hash
        if attempt.kind is FactKind.DATE_OF_BIRTH
        else borrower.id_last4_hash
    )
    succeeded = fact_matches(fact, borrower.verification_salt, stored)
    db.add(
        VerificationAttempt(
            borrower_id=borrower.id,
            link_id=link.id,
            address_hash=hashed_address,
            succeeded=succeeded,
            at=now,
        )
    )
    if succeeded:
        if attempt.device is not None:
            record_event(db, link.case, VERIFIED_EVENT, "borrower", at=now, device=attempt.device)
        return Verdict.VERIFIED
    return _after_failure(db, link, now)


def _after_failure(db: Session, link: ReminderLink, now: datetime) -> Verdict:
    failures = db.execute(
        update(ReminderLink)
        .where(ReminderLink.id == link.id)
        .values(failed_attempts=ReminderLink.failed_attempts + 1)
        .returning(ReminderLink.failed_attempts)
    ).scalar_one()
    db.refresh(link)
    if failures >= FAILURES_PER_LINK:
        link.disabled_at = now
        record_event(db, link.case, "link_disabled", "system", link_id=link.id)
        return Verdict.LINK_DISABLED
    db.flush()
    borrower_id = link.case.loan.borrower_id
    if _failures_of(db, borrower_id, now - timedelta(days=1)) >= FAILURES_PER_BORROWER_PER_DAY:
        if raise_flag(db, link.case, FlagReason.VERIFICATION_LOCKED, now, "system"):
            record_event(db, link.case, "verification_locked", "system")
        return Verdict.BORROWER_LOCKED
    return Verdict.WRONG


# How each market writes a date with the year last, by the loan's currency. Hong Kong
# writes the day first (03/04/1980 is 3 April), the United States the month first.
# Taiwan and the mainland write the year first, so there such a date is not guessed:
# one that reads one way only (25/12/1980) is accepted, 03/04/1980 is asked again.
DATE_ORDERS = {"HKD": DateOrder.DAY_FIRST, "USD": DateOrder.MONTH_FIRST}


def _normalised(attempt: Attempt, order: DateOrder | None) -> str | None:
    if attempt.kind is FactKind.DATE_OF_BIRTH:
        return normalise_date_of_birth(attempt.answer, order)
    return normalise_id_last4(attempt.answer)


def _attempts_from(db: Session, hashed_address: str, since: datetime) -> int:
    # Only failures count: many phones share a carrier's address, and a borrower who
    # answers right must never be locked out by others who did the same.
    query = select(func.count(VerificationAttempt.id)).where(
        VerificationAttempt.address_hash == hashed_address,
        VerificationAttempt.succeeded.is_(False),
        VerificationAttempt.at >= since,
    )
    return int(db.scalar(query) or 0)


def _failures_of(db: Session, borrower_id: int, since: datetime) -> int:
    query = select(func.count(VerificationAttempt.id)).where(
        VerificationAttempt.borrower_id == borrower_id,
        VerificationAttempt.succeeded.is_(False),
        VerificationAttempt.at >= since,
    )
    return int(db.scalar(query) or 0)
