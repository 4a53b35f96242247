"""What the agent console reads about messages: the offers a case's reminder may carry,
the outbox a page at a time, a message's words (masked, or revealed and recorded), a
bulk send's progress, and the cases of a bulk segment. Reads only: sending, scheduling
and opting out are ``portal.messaging.service``'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.arrangements.agreement import usable_offer
from portal.audit import trail
from portal.cases import queue as case_queue
from portal.cases.masking import mask_text
from portal.core.pagination import Window, window
from portal.messaging.links import hide_link_tokens
from portal.models import (
    Borrower,
    Case,
    Message,
    MessageBatch,
    MessageStatus,
    Offer,
    OfferStatus,
    StaffMember,
)

# The channels the outbox lists (a letter is printed, a call is logged: neither is sent).
OUTBOX_CHANNELS = ("sms", "email", "line", "wechat")


def sendable_offers(db: Session, case: Case, moment: datetime) -> list[Offer]:
    """The case's ready offers that can still be sent (and accepted) at ``moment``."""
    return [
        offer
        for offer in db.scalars(
            select(Offer).where(Offer.case_id == case.id, Offer.status == OfferStatus.READY)
        )
        if usable_offer(db, case, offer.id, moment) is not None
    ]


def _cases(db: Session, messages: list[Message]) -> dict[int, Case]:
    """The cases of ``messages``, by id."""
    case_ids = {message.case_id for message in messages}
    return {case.id: case for case in db.scalars(select(Case).where(Case.id.in_(case_ids)))}


@dataclass(frozen=True)
class OutboxPage:
    """One page of the outbox: its messages (newest first), their cases by id, and how
    many messages there are in all."""

    messages: list[Message]
    cases: dict[int, Case]
    span: Window


def outbox_page(db: Session, status: str, page: int, size: int, channel: str = "") -> OutboxPage:
    """Page ``page`` (from 1, clamped to the pages there are, as every console list is)
    of ``size`` SMS, email, LINE and WeChat messages, newest first, only those in
    ``status`` and on ``channel`` when given."""
    query = select(Message).where(Message.channel.in_(OUTBOX_CHANNELS))
    if status:
        query = query.where(Message.status == status)
    if channel:
        query = query.where(Message.channel == channel)
    span = window(db, query, page, size)
    rows = list(db.scalars(span.of(query.order_by(Message.id.desc()))))
    return OutboxPage(rows, _cases(db, rows), span)


@dataclass(frozen=True)
class Words:
    """A message's subject and body as the console shows them."""

    subject: str
    body: str
    revealed: bool


def message_words(message: Message, borrower: Borrower, *, revealed: bool = False) -> Words:
    """What ``message`` says, masked as the case page masks the borrower (their name,
    phone, email and postal address, and every link's token, which opens their case)
    unless ``revealed``: then in full, for the one response that recorded the reveal
    (``reveal_message``)."""
    if revealed:
        return Words(message.subject or "", message.body or "", True)

    def masked(text: str | None) -> str:
        hidden = mask_text(
            text,
            name=borrower.full_name,
            phone=borrower.phone,
            email=borrower.email,
            address=borrower.postal_address,
        )
        # The recipient may be someone else (a guarantor): their address is masked too.
        hidden = mask_text(hidden, phone=message.address, email=message.address)
        return hide_link_tokens(hidden)

    return Words(masked(message.subject), masked(message.body), False)


def reveal_message(db: Session, member: StaffMember, message: Message, moment: datetime) -> Words:
    """Record that ``member`` was shown ``message``'s words in full (``message.reveal``),
    and return them. Commits."""
    case = db.get_one(Case, message.case_id)
    trail.record_read(db, member, "message.reveal", moment, case_id=case.id, message_id=message.id)
    return message_words(message, case.loan.borrower, revealed=True)


@dataclass(frozen=True)
class BatchProgress:
    """Where a bulk send's messages stand: how many in each status, how many are due and
    still waiting, and the first of them (by when they go) with their cases by id."""

    statuses: dict[MessageStatus, int]
    due_waiting: int
    messages: list[Message]
    cases: dict[int, Case]


def batch_progress(db: Session, batch: MessageBatch, moment: datetime, shown: int) -> BatchProgress:
    """The progress of ``batch`` at ``moment``, with its first ``shown`` messages."""
    counted = (
        select(Message.status, func.count(Message.id))
        .where(Message.batch_id == batch.id)
        .group_by(Message.status)
    )
    statuses = dict(db.execute(counted).all())
    due_waiting = int(
        db.scalar(
            select(func.count(Message.id)).where(
                Message.batch_id == batch.id,
                Message.status.in_((MessageStatus.SCHEDULED, MessageStatus.SENDING)),
                Message.send_at <= moment,
            )
        )
        or 0
    )
    first = list(
        db.scalars(
            select(Message)
            .where(Message.batch_id == batch.id)
            .order_by(Message.send_at, Message.id)
            .limit(shown)
        )
    )
    return BatchProgress(statuses, due_waiting, first, _cases(db, first))


def segment_case_ids(db: Session, chosen: case_queue.QueueFilter, moment: datetime) -> list[int]:
    """The ids of the cases a bulk segment (the queue's filter) selects at ``moment``,
    each on its borrower's today as the queue counts it, in order."""
    return sorted(db.scalars(case_queue.matching_cases(chosen, moment)))
