"""Printing a letter, the agent's one gated action: ``print_letter`` asks the contact
gate (the case locked), issues a fresh reminder link, words and renders the letter
(``portal.letters.content``, ``portal.letters.pdf``) and records it as sent, in one
commit; a refusal records only the audit entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation.contact import Channel
from portal.access.verification import LETTER_LINK_LIFETIME, issue_link
from portal.agencies.agencies import agency_of
from portal.audit import trail
from portal.cases.facts import view_case
from portal.contact.gate import allowed_from_text, judge, record_attempt, refusal_reasons
from portal.core.hashing import token_hash
from portal.letters.content import letter_for, local_day, postal_lines
from portal.messaging.links import reminder_url
from portal.models import Case, Message, MessageStatus, ReminderLink, StaffMember

# Message.address is a String(254); the body keeps the address whole.
ADDRESS_LENGTH = 254
# What a stored copy shows instead of the link's token, which is never stored.
TOKEN_REDACTED = "…"  # noqa: S105 (a placeholder, not a secret)


class LetterRefusal(StrEnum):
    """Why a letter is not printed, beyond the contact rules."""

    NO_POSTAL_ADDRESS = "no_postal_address"
    NOTHING_OVERDUE = "nothing_overdue"
    PLAN_ACTIVE = "plan_active"
    # A partner agency's member whose agency may not print on the lender's letterhead.
    NO_LETTERHEAD = "no_letterhead"


LETTER_REFUSAL_TEXT = {
    LetterRefusal.NO_POSTAL_ADDRESS: _l(
        "There is no postal address for this borrower, so no letter can be printed."
    ),
    LetterRefusal.NOTHING_OVERDUE: _l(
        "Nothing is overdue on this loan: there is nothing to write about."
    ),
    LetterRefusal.PLAN_ACTIVE: _l(
        "The borrower's plan is active: collection is paused, so no reminder is sent."
    ),
    LetterRefusal.NO_LETTERHEAD: _l(
        "Your agency may not print letters on the lender's letterhead."
    ),
}


@dataclass(frozen=True)
class PrintedLetter:
    """A letter that may be posted: the PDF, its file name, and the recorded message."""

    pdf: bytes
    filename: str
    message_id: int


@dataclass(frozen=True)
class RefusedLetter:
    """A letter that may not be sent: each reason as a sentence, and when it becomes
    allowed (None when waiting alone never allows it)."""

    reasons: tuple[str, ...]
    allowed_from: str | None


def letter_refusals(
    db: Session, case: Case, moment: datetime, member: StaffMember | None = None
) -> list[LetterRefusal]:
    """What stops a letter for ``case`` besides the contact rules (by ``member``: a
    partner agency's staff print only when their agency may use the letterhead)."""
    borrower = case.loan.borrower
    refusals = []
    agency = agency_of(db, member) if member is not None else None
    if agency is not None and not agency.letterhead_allowed:
        refusals.append(LetterRefusal.NO_LETTERHEAD)
    if not postal_lines(borrower):
        refusals.append(LetterRefusal.NO_POSTAL_ADDRESS)
    view = view_case(db, case, local_day(moment, borrower.timezone))
    if view.arranged:
        refusals.append(LetterRefusal.PLAN_ACTIVE)
    elif view.snapshot.arrears.total == 0:
        refusals.append(LetterRefusal.NOTHING_OVERDUE)
    return refusals


def letter_filename(case: Case, moment: datetime) -> str:
    """The PDF's file name: the loan number and the date, never the borrower's name."""
    number = re.sub(r"[^A-Za-z0-9_-]", "_", case.loan.number)
    return f"letter-{number}-{local_day(moment, case.loan.borrower.timezone).isoformat()}.pdf"


def print_letter(
    db: Session,
    case: Case,
    member: StaffMember,
    moment: datetime,
    link_url: Callable[[str], str] = reminder_url,
) -> PrintedLetter | RefusedLetter:
    """Print a reminder letter for ``case``, if the contact rules and the case allow it.

    Allowed: a fresh reminder link, the letter, and in one commit the message (channel
    letter, sent), the contact attempt and the audit entry ``letter.print``. Refused:
    nothing but the audit entry ``letter.refused``. The stored copy of the letter names
    the link without its token (tokens are never stored)."""
    decision = judge(db, case, Channel.LETTER, moment, lock=True)
    refusals = letter_refusals(db, case, moment, member)
    if refusals or not decision.allowed:
        reasons = tuple(str(LETTER_REFUSAL_TEXT[r]) for r in refusals) + tuple(
            refusal_reasons(decision)
        )
        trail.record(
            db,
            member,
            "letter.refused",
            moment,
            case_id=case.id,
            reasons=[r.value for r in refusals] + [r.value for r in decision.reasons],
        )
        db.commit()
        return RefusedLetter(reasons, None if refusals else allowed_from_text(decision))
    borrower = case.loan.borrower
    token = issue_link(db, case, moment, lifetime=LETTER_LINK_LIFETIME)
    url = link_url(token)
    content = letter_for(db, case, moment, url)
    # reportlab loads only when a letter is drawn: a web worker need not carry it.
    from portal.letters.pdf import render_pdf

    pdf = render_pdf(content)
    db.flush()
    link_id = db.scalar(select(ReminderLink.id).where(ReminderLink.token_hash == token_hash(token)))
    stored = replace(content, link_url=url.replace(token, TOKEN_REDACTED))
    message = Message(
        case_id=case.id,
        borrower_id=borrower.id,
        channel=Channel.LETTER.value,
        purpose="reminder",
        link_id=link_id,
        address=content.address_separator.join(postal_lines(borrower))[:ADDRESS_LENGTH],
        locale=content.locale,
        subject=content.title,
        body=stored.plain_text(),
        status=MessageStatus.SENT,
        send_at=moment,
        sent_at=moment,
        provider="print",
        created_by=member.email,
        created_at=moment,
    )
    db.add(message)
    db.flush()
    record_attempt(
        db, case, Channel.LETTER, moment, member.email, outcome="sent", message_id=message.id
    )
    trail.record(
        db,
        member,
        "letter.print",
        moment,
        case_id=case.id,
        message_id=message.id,
        locale=content.locale,
    )
    db.commit()
    return PrintedLetter(pdf, letter_filename(case, moment), message.id)


def past_letters(db: Session, case: Case) -> list[Message]:
    """The letters printed for ``case``, newest first."""
    query = (
        select(Message)
        .where(Message.case_id == case.id, Message.channel == Channel.LETTER.value)
        .order_by(Message.created_at.desc(), Message.id.desc())
    )
    return list(db.scalars(query))
