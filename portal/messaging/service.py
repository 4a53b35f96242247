"""Sending reminders: the one path every SMS and email takes, single or bulk.

Every message is judged by ``portal.contact.gate.judge`` with the case row locked, in the
transaction that records the contact attempt, so two agents (or an agent and the
scheduled sender) cannot both take the borrower's last allowed message of the day.

What happens to a contact the rules refuse:

- refused for good (a hold, an opt-out of the channel, a third party): nothing is
  stored but the refusal, in the audit log;
- refused for a while (quiet hours, a holiday, the day's or the week's messages used
  up): an agent sending one message is told why and from when, and may choose to
  schedule it for then; a bulk send schedules it, never drops it. The scheduled
  message counts toward the caps on the day it will go.

The scheduled sender (``dispatch_due``, run by ``haohuan messages send-due``) judges
each message again when its time comes: a hold or an opt-out since cancels it, with
the reason; caps used since move it to the next allowed moment. It works in batches:
a batch of due messages is claimed (``FOR UPDATE SKIP LOCKED``: several senders share
the work and never take one message twice), its cases and borrowers locked without
waiting (one held elsewhere waits for a later batch), judged by one ``BatchGate`` read
in the order one-by-one sending would take them (a borrower's second message waits for
the next batch, judged once the first has gone), recorded as ``sending`` in one commit,
handed to the providers concurrently within each one's rate and connection limits
(``portal.messaging.delivery``), and its outcomes recorded in a second commit.

Crash safety. A provider is never called inside a transaction that holds the case lock.
First the message is recorded as ``sending`` with its attempt (the attempt counts
toward the caps at once) and committed; then the provider is called; then the outcome
is recorded. If the process stops between the two commits, the message stays
``sending``; ``dispatch_due`` marks one older than ``SENDING_STALE_AFTER`` as failed,
outcome unknown, and never sends it again. So a message is sent at most once: a crash
can lose one (shown as failed, for an agent to decide) but never send it twice. Twilio's
Messages API takes no idempotency key, so a retry could not be made safe at the
provider; at-most-once is the honest choice for collection contact, where a duplicate
is a breach of the caps and a lost message is only a reminder not received.

A provider's certain refusal (HTTP 4xx, SMTP 5xx) means the borrower was not contacted:
the attempt is taken off the contact log so it does not use up their allowed messages.
An uncertain failure (a timeout after the request went out) keeps it: the message may
have arrived.

Links: a message's reminder link is issued when the message is sent, not when it is
scheduled, so a message held over a holiday blackout (up to nine days) still carries a
link valid for seven, and an email states the amounts of the day it is read. The stored
body keeps the link only for the outbox (which is how it is delivered); for a real
provider the link's token is replaced by a mark, as links are never stored.
"""

from __future__ import annotations

import gc
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from flask import current_app
from sqlalchemy import Select, Table, and_, bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.orm import Session, joinedload, object_session

from negotiation.contact import (
    Channel,
    ContactDecision,
)
from portal.access.verification import issue_link, issue_links
from portal.arrangements.agreement import usable_offer
from portal.audit import trail
from portal.cases.facts import views_of
from portal.cases.overdue import borrower_today
from portal.contact.gate import (
    VALIDATION_NOTICE,
    BatchGate,
    ContactBook,
    cancel_scheduled,
    judge,
    lift_opt_out,
    lock_borrowers,
    opted_out_channels,
    record_attempt,
    record_attempts,
    record_opt_out,
    rules_for,
    try_lock_borrowers,
)
from portal.core import settings
from portal.core.clock import as_utc
from portal.core.db import lock_row
from portal.core.hashing import new_token, token_hash
from portal.messaging.chat import linked_accounts
from portal.messaging.delivery import Couriers, Delivered, Limits, Parcel
from portal.messaging.links import opt_out_url, reminder_url
from portal.messaging.providers import (
    ChatSender,
    Email,
    EmailSender,
    Providers,
    SendError,
    SmsProvider,
)
from portal.messaging.purposes import (
    DISPUTE_REJECTED,
    DISPUTE_UPHELD,
    NOTICES,
    STRATEGY_TEMPLATES,
    VISIT_NOTICE,
    StaleMessageError,
    compose_purpose,
)
from portal.models import (
    Borrower,
    Case,
    CaseStatus,
    ContactAttempt,
    Loan,
    Message,
    MessageBatch,
    MessageStatus,
    Offer,
    OptOut,
    ReminderLink,
    StaffMember,
)

log = logging.getLogger(__name__)

MESSAGE_CHANNELS = (Channel.SMS, Channel.EMAIL, Channel.LINE, Channel.WECHAT)
# The chat senders' limits (LINE allows 2,000 pushes a second; WeChat's template messages
# are counted by the day): a few connections, gently paced.
CHAT_LIMITS = Limits(rate=20, connections=4)
# A message left "sending" this long was interrupted (the process stopped mid-send).
SENDING_STALE_AFTER = timedelta(minutes=10)
# Cases per transaction in a bulk send: each chunk locks its cases briefly.
BULK_CHUNK = 500
# Messages the scheduled sender claims, judges and records as being sent in one
# transaction (fewer when a provider's rate limit is low: see BATCH_SECONDS).
DISPATCH_CHUNK = 500
# The messages table, for the batch sender's UPDATEs by id (executemany, bypassing the
# session's objects, which it expires afterwards).
_MESSAGES = cast(Table, Message.__table__)
# The longest a batch should take at its slowest provider's rate limit: far below
# SENDING_STALE_AFTER, after which another sender takes its messages for interrupted.
BATCH_SECONDS = 60
REDACTED = "[link]"
# What a message left "sending" by a sender that stopped is failed with (a code, worded
# where it is shown, as the providers' ``SendFailure`` codes are).
INTERRUPTED = "interrupted"

Actor = StaffMember | str


class Outcome(StrEnum):
    """What became of one request to send."""

    SENT = "sent"
    FAILED = "failed"
    SCHEDULED = "scheduled"
    REFUSED = "refused"


# Messages that tell the borrower an outcome rather than ask for money.
OUTCOME_PURPOSES = frozenset({DISPUTE_UPHELD, DISPUTE_REJECTED})
# Messages whose words are their own: they do not state the case's amounts and timeline
# as a reminder's email does (``portal.cases.facts.view_case``), so the batch sender reads
# no view for them.
_OWN_WORDS = frozenset({*OUTCOME_PURPOSES, VALIDATION_NOTICE, VISIT_NOTICE, *NOTICES})


class Problem(StrEnum):
    """Why a message cannot be made at all, before the contact rules are asked."""

    NO_ADDRESS = "no_address"
    OFFER_UNUSABLE = "offer_unusable"
    ALREADY_QUEUED = "already_queued"
    CASE_RESOLVED = "case_resolved"  # paid off, settled or written off: nothing to collect
    # What a strategy's message was about is gone (paid, kept, replaced): ``purposes``.
    STALE = "stale"


@dataclass(frozen=True)
class SendResult:
    """The outcome of ``send_message``: the message (when one was stored), the contact
    rules' decision (when they were asked), a problem, or the provider's error."""

    outcome: Outcome
    message_id: int | None = None
    decision: ContactDecision | None = None
    problem: Problem | None = None
    error: str | None = None


def providers() -> Providers:
    """The configured SMS provider and email sender (``portal.messaging.init_app``)."""
    configured: Providers = current_app.extensions["haohuan.messaging"]
    return configured


def _actor_name(actor: Actor) -> str:
    return actor.email if isinstance(actor, StaffMember) else actor


def address_for(
    borrower: Borrower, channel: Channel, chat: Mapping[tuple[int, Channel], str] | None = None
) -> str | None:
    """Where a message on ``channel`` goes: the borrower's own phone or email, or the
    LINE or WeChat account they linked with their consent (from ``chat``, read by
    ``linked_accounts`` for a batch; else read now). There is no other recipient:
    nothing here can address a third party, and no chat message goes to a borrower who
    has not linked the app."""
    if channel.is_chat:
        if chat is None:
            session = object_session(borrower)
            chat = linked_accounts(session, [borrower.id]) if session is not None else {}
        return chat.get((borrower.id, channel))
    value = borrower.phone if channel is Channel.SMS else borrower.email
    return (value or "").strip() or None


def provider_for(configured: Providers, channel: Channel) -> SmsProvider | EmailSender | ChatSender:
    """The configured provider of ``channel``."""
    if channel is Channel.SMS:
        return configured.sms
    if channel is Channel.LINE:
        return configured.line
    if channel is Channel.WECHAT:
        return configured.wechat
    return configured.email


def queue_notice(
    db: Session, case: Case, purpose: str, moment: datetime, *, who: str = "autopay"
) -> Message | None:
    """Schedule a notice of ``purpose`` to the borrower (an automatic payment declined,
    to confirm, or turned off; a refund made) on their email, else their phone, queued
    by ``who``, to go as soon as the
    contact rules allow: the sender judges it like every message (hours, caps, holds)
    and writes its words then. None when the borrower can be reached on no channel they
    have not stopped. Does not commit."""
    borrower = case.loan.borrower
    stopped = opted_out_channels(db, borrower.id)
    for channel in (Channel.EMAIL, Channel.SMS):
        address = address_for(borrower, channel)
        if address and channel not in stopped:
            return _new_message(
                db,
                case,
                channel,
                address,
                who,
                moment,
                None,
                send_at=moment,
                purpose=purpose,
            )
    return None


def send_message(
    db: Session,
    case: Case,
    channel: Channel,
    *,
    actor: Actor,
    moment: datetime,
    offer: Offer | None = None,
    schedule: bool = False,
    purpose: str | None = None,
) -> SendResult:
    """Send one reminder (with ``offer``: the offer's link; with ``purpose``: that
    purpose's words) to the borrower of ``case`` now, if the contact rules allow it.
    Refused for a while: with ``schedule``, store it for the first allowed moment;
    without, only say why and when. A strategy template whose fact is gone is refused
    as ``stale``, nothing stored. Commits."""
    if channel not in MESSAGE_CHANNELS:
        raise ValueError(f"{channel} is not a message channel")
    who = _actor_name(actor)
    borrower = case.loan.borrower
    address = address_for(borrower, channel)
    problem = None
    if case.status == CaseStatus.RESOLVED and purpose not in OUTCOME_PURPOSES:
        # A reminder, an offer or a validation notice asks for money; a resolved case
        # owes none. Telling the borrower how their dispute ended still goes out.
        problem = Problem.CASE_RESOLVED
    elif address is None:
        problem = Problem.NO_ADDRESS
    elif offer is not None and usable_offer(db, case, offer.id, moment) is None:
        problem = Problem.OFFER_UNUSABLE
    if problem is not None or address is None:
        refused = problem or Problem.NO_ADDRESS
        _audit_refusal(db, actor, case, channel, moment, problem=refused.value, offer=offer)
        db.commit()
        return SendResult(Outcome.REFUSED, problem=refused)
    # judge locks the case row before the rules read the history; it stays locked
    # until the commit that records the attempt.
    decision = judge(db, case, channel, moment, lock=True)
    if not decision.allowed:
        if decision.allowed_from is not None and schedule:
            message = _new_message(
                db,
                case,
                channel,
                address,
                who,
                moment,
                offer,
                send_at=decision.allowed_from,
                purpose=purpose,
            )
            db.flush()
            trail.record(
                db,
                actor,
                "message.schedule",
                moment,
                case_id=case.id,
                message_id=message.id,
                channel=channel.value,
                send_at=as_utc(decision.allowed_from).astimezone(UTC).isoformat(),
                reasons=[reason.value for reason in decision.reasons],
            )
            db.commit()
            return SendResult(Outcome.SCHEDULED, message.id, decision)
        _audit_refusal(db, actor, case, channel, moment, decision=decision, offer=offer)
        db.commit()
        return SendResult(Outcome.REFUSED, decision=decision)
    message = _new_message(
        db, case, channel, address, who, moment, offer, send_at=moment, purpose=purpose
    )
    db.flush()
    try:
        outgoing = _prepare(db, case, message, moment, who, offer)
    except StaleMessageError as stale:
        # Nothing of this message is kept (its row and link go with the rollback).
        db.rollback()
        _audit_refusal(db, actor, case, channel, moment, problem=Problem.STALE.value, offer=offer)
        log.info("message to case %s not sent: %s", case.id, stale)
        db.commit()
        return SendResult(Outcome.REFUSED, problem=Problem.STALE)
    trail.record(
        db,
        actor,
        "message.send",
        moment,
        case_id=case.id,
        message_id=message.id,
        channel=channel.value,
        purpose=message.purpose,
        offer_id=offer.id if offer else None,
    )
    db.commit()
    return _deliver(db, message, outgoing, actor, moment)


def send_dispute_rejection(db: Session, case: Case, actor: Actor, moment: datetime) -> SendResult:
    """Tell the borrower, in their language, that their dispute was looked into and
    rejected, and what they may do next: by email when they have one, else by SMS (whose
    words stay discreet; the page behind its link says the rest). It goes through the
    contact rules like any message, kept for the first allowed moment when refused for a
    while. Commits."""
    return send_dispute_outcome(db, case, upheld=False, actor=actor, moment=moment)


def send_dispute_outcome(
    db: Session, case: Case, *, upheld: bool, actor: Actor, moment: datetime
) -> SendResult:
    """Tell the borrower, in their language, how their dispute ended: rejected (with what
    they may do next) or upheld (what was taken off, or that the balance was written
    off). By email when they have one, else by a discreet SMS; through the contact rules
    like any message, kept for the first allowed moment when refused for a while.
    Commits."""
    channel = Channel.EMAIL if address_for(case.loan.borrower, Channel.EMAIL) else Channel.SMS
    purpose = DISPUTE_UPHELD if upheld else DISPUTE_REJECTED
    return send_message(
        db, case, channel, actor=actor, moment=moment, schedule=True, purpose=purpose
    )


def _notice_in(db: Session, case_id: int, statuses: Iterable[MessageStatus]) -> bool:
    return (
        db.scalar(
            select(Message.id)
            .where(
                Message.case_id == case_id,
                Message.purpose == VALIDATION_NOTICE,
                Message.status.in_(tuple(statuses)),
            )
            .limit(1)
        )
        is not None
    )


def needs_validation_notice(db: Session, case: Case) -> bool:
    """True when the borrower's rules ask for a validation notice on ``case`` (US
    Regulation F) and none has been sent, nor is waiting to be (a failed or cancelled one
    leaves it needed: the agent may send it again)."""
    if not rules_for(case.loan.borrower.jurisdiction, case.loan.currency).validation_notice:
        return False
    return not _notice_in(db, case.id, _NOTICE_GOING)


def send_validation_notice(db: Session, case: Case, actor: Actor, moment: datetime) -> SendResult:
    """Send the debt's validation notice (US Regulation F) by email now, or keep it for
    the first moment the contact rules allow; refused as already queued while one waits.
    Commits (``send_message``, or here for the refusal)."""
    if _notice_in(db, case.id, _NOTICE_WAITING):
        _audit_refusal(db, actor, case, Channel.EMAIL, moment, problem=Problem.ALREADY_QUEUED.value)
        db.commit()
        return SendResult(Outcome.REFUSED, problem=Problem.ALREADY_QUEUED)
    return send_message(
        db,
        case,
        Channel.EMAIL,
        actor=actor,
        moment=moment,
        schedule=True,
        purpose=VALIDATION_NOTICE,
    )


_NOTICE_WAITING = (MessageStatus.SCHEDULED, MessageStatus.SENDING)
_NOTICE_GOING = (*_NOTICE_WAITING, MessageStatus.SENT)
# A validation notice in one of these states is sent, being sent, waiting, or failed for
# an agent to look at: the scheduled sender's queueing leaves its case alone (a failed
# one is not retried every minute). A cancelled one (a hold or an opt-out since) is
# queued again once nothing stops it.
_NOTICE_KEPT = (*_NOTICE_GOING, MessageStatus.FAILED)


def queue_validation_notices(db: Session, moment: datetime) -> int:
    """Queue the validation notice by email, due now, for every open, overdue case not on
    hold whose borrower's rules ask for one (US Regulation F) and has an email address
    not opted out, and no notice sent, waiting or failed: two statements and one insert
    whatever the number of cases, so running it again queues nothing more. Each goes
    through the contact rules when ``dispatch_due`` sends it. How many were queued.
    Commits."""
    base = (
        select(Case.id, Borrower.id, Borrower.email, Borrower.locale)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(
            Case.status == CaseStatus.OPEN,
            Case.overdue_since.is_not(None),
            Case.hold.is_(None),
        )
    )
    places = db.execute(
        base.with_only_columns(Borrower.jurisdiction, Loan.currency).distinct()
    ).all()
    wanted = [
        and_(Borrower.jurisdiction == place, Loan.currency == currency)
        for place, currency in places
        if rules_for(place, currency).validation_notice
    ]
    if not wanted:
        db.commit()
        return 0
    kept = exists().where(
        Message.case_id == Case.id,
        Message.purpose == VALIDATION_NOTICE,
        Message.status.in_(_NOTICE_KEPT),
    )
    opted_out = exists().where(
        OptOut.borrower_id == Borrower.id,
        OptOut.channel == Channel.EMAIL.value,
        OptOut.lifted_at.is_(None),
    )
    found = db.execute(
        base.where(or_(*wanted), Borrower.email.is_not(None), ~kept, ~opted_out).order_by(Case.id)
    )
    rows = [
        (case_id, borrower_id, (email or "").strip(), locale)
        for case_id, borrower_id, email, locale in found
        if (email or "").strip()
    ]
    if rows:
        db.execute(
            insert(Message),
            [
                {
                    "case_id": case_id,
                    "borrower_id": borrower_id,
                    "channel": Channel.EMAIL.value,
                    "purpose": VALIDATION_NOTICE,
                    "address": email,
                    "locale": locale,
                    "status": MessageStatus.SCHEDULED,
                    "send_at": moment,
                    "created_by": "system",
                    "created_at": moment,
                }
                for case_id, borrower_id, email, locale in rows
            ],
        )
    db.commit()
    return len(rows)


def _new_message(
    db: Session,
    case: Case,
    channel: Channel,
    address: str,
    who: str,
    moment: datetime,
    offer: Offer | None,
    *,
    send_at: datetime,
    batch: MessageBatch | None = None,
    purpose: str | None = None,
) -> Message:
    message = Message(
        case_id=case.id,
        borrower_id=case.loan.borrower_id,
        batch_id=batch.id if batch else None,
        channel=channel.value,
        purpose=purpose or ("offer" if offer else "reminder"),
        offer_id=offer.id if offer else None,
        address=address,
        locale=case.loan.borrower.locale,
        status=MessageStatus.SCHEDULED,
        send_at=as_utc(send_at).astimezone(UTC),
        created_by=who,
        created_at=moment,
    )
    db.add(message)
    return message


@dataclass(frozen=True)
class Outgoing:
    """A message ready for its provider: the text with its live link (held in memory
    only), and the email built around it."""

    text: str
    email: Email | None
    link: str = ""


def _prepare(
    db: Session, case: Case, message: Message, moment: datetime, who: str, offer: Offer | None
) -> Outgoing:
    """Issue the link, write the words, and record the message as being sent with its
    contact attempt (not committed). Raises ``StaleMessageError`` when what the message
    was planned to say is no longer true: the caller rolls back (the link issued goes
    with it) and does not send."""
    channel = Channel(message.channel)
    borrower = case.loan.borrower
    token = issue_link(db, case, moment, offer=offer)
    db.flush()
    opt_out = opt_out_url(borrower.id, channel)
    link = reminder_url(token)
    composed = compose_purpose(
        db, case, message.purpose, channel, moment, link=link, opt_out=opt_out, offer=offer
    )
    provider = provider_for(providers(), channel)
    message.status = MessageStatus.SENDING
    message.send_at = moment
    message.link_id = db.scalar(
        select(ReminderLink.id).where(ReminderLink.token_hash == token_hash(token))
    )
    message.locale = composed.locale
    message.subject = composed.subject
    message.provider = provider.name
    # The outbox is how an outbox message is delivered, so it keeps the link; a real
    # provider has it, and our copy need not (links are stored only as hashes).
    message.body = composed.text if provider.name == "outbox" else _redact(composed.text, token)
    record_attempt(db, case, channel, moment, who, outcome="sent", message_id=message.id)
    email = None
    if channel is Channel.EMAIL:
        email = Email(
            to=message.address or "",
            to_name=borrower.full_name,
            subject=composed.subject or "",
            text=composed.text,
            html=None,
            unsubscribe_url=opt_out,
            reference=str(message.id),
        )
    return Outgoing(composed.text, email, link)


def _redact(text: str, token: str) -> str:
    return text.replace(token, REDACTED)


def _deliver(
    db: Session, message: Message, outgoing: Outgoing, actor: Actor, moment: datetime
) -> SendResult:
    """Hand the committed ``sending`` message to its provider and record the outcome.
    No lock is held while the provider answers. Commits."""
    try:
        channel = Channel(message.channel)
        if outgoing.email is not None:
            reference = providers().email.send(outgoing.email)
        elif channel.is_chat:
            sender = providers().line if channel is Channel.LINE else providers().wechat
            reference = sender.send(
                message.address or "", outgoing.text, outgoing.link, str(message.id)
            )
        else:
            reference = providers().sms.send(message.address or "", outgoing.text, str(message.id))
    except SendError as error:
        message.status = MessageStatus.FAILED
        message.error = error.reason
        if error.certain:
            # The borrower was not contacted: the attempt does not count toward the caps.
            db.execute(delete(ContactAttempt).where(ContactAttempt.message_id == message.id))
        trail.record(
            db,
            actor,
            "message.failed",
            moment,
            case_id=message.case_id,
            message_id=message.id,
            channel=message.channel,
            error=error.reason,
            certain=error.certain,
        )
        db.commit()
        return SendResult(Outcome.FAILED, message.id, error=error.reason)
    message.status = MessageStatus.SENT
    message.sent_at = moment
    message.provider_reference = reference[:128]
    db.commit()
    return SendResult(Outcome.SENT, message.id)


def _audit_refusal(
    db: Session,
    actor: Actor,
    case: Case,
    channel: Channel,
    moment: datetime,
    *,
    decision: ContactDecision | None = None,
    problem: str | None = None,
    offer: Offer | None = None,
) -> None:
    allowed_from = decision.allowed_from if decision is not None else None
    trail.record(
        db,
        actor,
        "message.refused",
        moment,
        case_id=case.id,
        channel=channel.value,
        reasons=[r.value for r in decision.reasons] if decision is not None else [problem],
        allowed_from=as_utc(allowed_from).astimezone(UTC).isoformat() if allowed_from else None,
        offer_id=offer.id if offer else None,
    )


# Opt-outs -------------------------------------------------------------------------------


def opt_out(
    db: Session,
    borrower_id: int,
    channel: Channel,
    moment: datetime,
    *,
    source: str,
    actor: Actor | None = None,
    case_id: int | None = None,
) -> bool:
    """Record the borrower's opt-out of ``channel`` and cancel what is scheduled to them
    on it. ``source``: ``link`` (the borrower, from a message), ``sms_reply`` (they
    replied STOP to an SMS) or ``agent`` (said on the phone; ``actor`` is the agent,
    audited). Commits. False when already opted out."""
    lock_row(db, Borrower, borrower_id)
    added = record_opt_out(
        db,
        borrower_id,
        channel,
        moment,
        source,
        recorded_by=_actor_name(actor) if actor is not None else None,
    )
    cancelled = cancel_scheduled(db, borrower_id, channel, "opted_out")
    if actor is not None:
        trail.record(
            db,
            actor,
            "optout.record",
            moment,
            case_id=case_id,
            borrower_id=borrower_id,
            channel=channel.value,
            source=source,
            added=added,
            cancelled=cancelled,
        )
    db.commit()
    return added


def lift(
    db: Session,
    borrower_id: int,
    channel: Channel,
    moment: datetime,
    *,
    actor: Actor,
    case_id: int | None = None,
) -> bool:
    """Lift the borrower's opt-out of ``channel`` (they agreed to it again, which the
    agent confirms). Commits. False when there was none."""
    lock_row(db, Borrower, borrower_id)
    lifted = lift_opt_out(db, borrower_id, channel, moment)
    trail.record(
        db,
        actor,
        "optout.lift",
        moment,
        case_id=case_id,
        borrower_id=borrower_id,
        channel=channel.value,
        lifted=lifted,
    )
    db.commit()
    return lifted


def active_opt_outs(db: Session, borrower_id: int) -> list[OptOut]:
    """The borrower's opt-outs, newest first (lifted ones too, for the record)."""
    return list(
        db.scalars(
            select(OptOut).where(OptOut.borrower_id == borrower_id).order_by(OptOut.at.desc())
        )
    )


# The scheduled sender ---------------------------------------------------------------------


@dataclass
class DispatchCounts:
    """What one run of the scheduled sender did."""

    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    rescheduled: int = 0
    interrupted: int = 0
    notices_queued: int = 0


def dispatch_due(
    db: Session,
    moment: datetime,
    *,
    batch_id: int | None = None,
    limit: int | None = None,
    clock: Callable[[], datetime] | None = None,
    housekeeping: bool = True,
    share: int = 1,
) -> DispatchCounts:
    """Send every scheduled message whose time has come (of one batch, with
    ``batch_id``; at most ``limit``), judging each again when it goes; first (with
    ``housekeeping``) mark interrupted sends as failed and queue the validation notices
    due. Messages go in batches (``_send_batch``): each claimed, judged and recorded as
    being sent in one transaction, handed to the providers concurrently within their
    limits, and its outcomes recorded in a second. Each batch is judged at ``clock()``
    when given (a long run judges its last messages at the time they go), else at
    ``moment``. ``share``: how many senders run at once on this machine (``--workers``),
    who divide the providers' rate limits between them. Commits batch by batch."""
    counts = housekeep(db, moment, batch_id=batch_id) if housekeeping else DispatchCounts()
    current = settings.current()
    sms_rate, sms_connections = current.send_limits("sms")
    email_rate, email_connections = current.send_limits("email")
    couriers = Couriers(
        providers(),
        Limits(sms_rate / share, sms_connections),
        Limits(email_rate / share, email_connections),
        Limits(CHAT_LIMITS.rate / share, CHAT_LIMITS.connections),
    )
    size = DISPATCH_CHUNK
    if slowest := couriers.slowest_rate():
        # A batch stays "sending" while its providers take it: never near the time after
        # which another sender would take it for interrupted.
        size = max(1, min(size, int(slowest * BATCH_SECONDS)))
    done = 0
    try:
        while limit is None or done < limit:
            at = clock() if clock is not None else moment
            taken = _send_batch(
                db, at, couriers, batch_id, size if limit is None else min(size, limit - done)
            )
            if taken is None:
                break
            for name, value in taken.items():
                setattr(counts, name, getattr(counts, name) + value)
            if not sum(taken.values()):
                # Every message due is held by another transaction: the next run retries.
                break
            done += sum(taken.values())
    finally:
        couriers.close()
    return counts


def housekeep(db: Session, moment: datetime, *, batch_id: int | None = None) -> DispatchCounts:
    """What the scheduled sender does once a run before sending: mark sends left
    ``sending`` too long as failed (interrupted) and, unless it sends one bulk batch,
    queue the validation notices due. Commits."""
    counts = DispatchCounts(interrupted=_fail_interrupted(db, moment))
    if batch_id is None:
        counts.notices_queued = queue_validation_notices(db, moment)
    return counts


@dataclass
class _Due:
    """A claimed message, as the batch sender reads it."""

    id: int
    case_id: int
    channel: Channel
    purpose: str
    offer_id: int | None
    batch_id: int | None
    created_by: str


@dataclass
class _Going:
    """A message of the batch that the rules let go now, with what is needed to send it."""

    due: _Due
    case: Case
    address: str
    offer: Offer | None
    token: str = ""
    outgoing: Outgoing | None = None


def _send_batch(
    db: Session, moment: datetime, couriers: Couriers, batch_id: int | None, size: int
) -> dict[str, int] | None:
    """Claim up to ``size`` due messages, judge and prepare them (commit), send them,
    record the outcomes (commit). The counts it adds to, or None when nothing was due."""
    held = set(db.identity_map.keys())
    try:
        with _collector_paused():
            going, counts, claimed = _prepare_batch(db, moment, batch_id, size)
        if not claimed:
            db.commit()
            return None
        db.commit()
        delivered = couriers.deliver(
            [
                Parcel(
                    g.due.id,
                    g.address,
                    g.outgoing.text,
                    g.outgoing.email,
                    g.due.channel.value,
                    g.outgoing.link,
                )
                for g in going
                if g.outgoing is not None
            ]
        )
        counts.update(_record_delivered(db, going, delivered, moment))
        db.commit()
    finally:
        _forget_batch(db, held)
    if delivered.crash is not None:
        raise delivered.crash
    return counts


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a batch is prepared: the batch builds some
    forty thousand ORM objects (the cases, loans and installments it reads), each of
    which can set off a collection that walks every object the process holds; measured,
    a quarter of the batch's time. It runs again, and catches up, once the batch is
    written."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _forget_batch(db: Session, held: set[Any]) -> None:
    """Take the rows a batch read out of the session (a run of many batches would
    otherwise keep them all, and every commit walks them), and expire the ones the
    caller held: they were written by statements, not through the session's objects, and
    are read again when next used."""
    for key in [key for key in db.identity_map.keys() if key not in held]:  # noqa: SIM118
        found = db.identity_map.get(key)
        if found is not None:
            db.expunge(found)
    db.expire_all()


def _claim(db: Session, moment: datetime, batch_id: int | None, size: int) -> list[_Due]:
    """Lock and read up to ``size`` due messages, oldest first. On PostgreSQL, rows
    another sender holds are skipped, so several senders share the work without taking
    one message twice; SQLite runs one writer at a time, so its write lock comes first."""
    postgres = db.get_bind().dialect.name == "postgresql"
    if not postgres:
        lock_row(db, Message, 0)  # no such row: the database write lock, nothing else
    query = (
        select(
            Message.id,
            Message.case_id,
            Message.channel,
            Message.purpose,
            Message.offer_id,
            Message.batch_id,
            Message.created_by,
        )
        .where(Message.status == MessageStatus.SCHEDULED, Message.send_at <= moment)
        .order_by(Message.send_at, Message.id)
        .limit(size)
    )
    if batch_id is not None:
        query = query.where(Message.batch_id == batch_id)
    if postgres:
        query = query.with_for_update(skip_locked=True, of=Message)
    return [
        _Due(id, case_id, Channel(channel), purpose, offer_id, batch, created_by)
        for id, case_id, channel, purpose, offer_id, batch, created_by in db.execute(query)
    ]


def _prepare_batch(
    db: Session, moment: datetime, batch_id: int | None, size: int
) -> tuple[list[_Going], dict[str, int], int]:
    """Claim a batch and do in a few statements what ``_dispatch_one`` does message by
    message up to the provider: lock the cases and their borrowers (skipping any held
    elsewhere, whose messages wait for a later batch), read them again, judge every
    message by the borrower's rules and history (``BatchGate``: one query each for the
    batch), cancel or reschedule the refused, and for the rest issue the links, write the
    words (a stale template's message cancelled), record the attempts and the messages as
    being sent, and audit. Not committed. The messages going, the counts, and how many
    were claimed.

    The messages are judged in the order ``_dispatch_one`` takes them, each borrower's
    history moving as it would (a message moved or cancelled stops counting where it
    was). Once one of a borrower's messages goes, the borrower's later messages in the
    batch are left scheduled for the next batch: they are judged after its outcome is
    known (a certain refusal gives its attempt back; a hold placed meanwhile counts), as
    one by one."""
    claimed = _claim(db, moment, batch_id, size)
    if not claimed:
        return [], {}, 0
    case_ids = sorted({due.case_id for due in claimed})
    held = _lock_without_waiting(db, case_ids)
    cases = {
        case.id: case
        for case in db.scalars(
            select(Case)
            .where(Case.id.in_(case_ids))
            .options(joinedload(Case.loan).joinedload(Loan.borrower))
            .execution_options(populate_existing=True)
        )
    }
    gate = BatchGate(db, cases.values(), moment)
    chat = linked_accounts(
        db,
        {case.loan.borrower_id for case in cases.values()}
        if any(due.channel.is_chat for due in claimed)
        else (),
    )
    counts = {"cancelled": 0, "rescheduled": 0}
    cancelled: list[tuple[_Due, str]] = []
    moved: list[tuple[_Due, datetime]] = []
    going: list[_Going] = []
    busy: set[int] = set()
    for due in claimed:
        case = cases[due.case_id]
        borrower = case.loan.borrower
        if borrower.id in busy:
            continue  # judged in a later batch, once this borrower's message has gone
        if case.id not in held.cases or borrower.id not in held.borrowers:
            # Another transaction holds the case or the borrower (an agent sending, a
            # write-off cancelling the case's messages): the message, and the borrower's
            # later ones, wait for a later batch rather than this one for the lock.
            busy.add(borrower.id)
            continue
        decision = gate.judge(case, due.channel, due.id)
        offer = db.get(Offer, due.offer_id) if due.offer_id else None
        reason = None
        address = address_for(borrower, due.channel, chat)
        if address is None:
            reason = Problem.NO_ADDRESS.value
        elif offer is not None and usable_offer(db, case, offer.id, moment) is None:
            reason = Problem.OFFER_UNUSABLE.value
        elif not decision.allowed and decision.allowed_from is None:
            reason = ",".join(r.value for r in decision.reasons)
        if reason is not None:
            gate.dropped(case, due.id)
            cancelled.append((due, reason))
        elif not decision.allowed and decision.allowed_from is not None:
            later = as_utc(decision.allowed_from).astimezone(UTC)
            gate.moved(case, due.channel, due.id, later)
            moved.append((due, later))
        else:
            going.append(_Going(due, case, address or "", offer))
            busy.add(borrower.id)
    _cancel_many(db, cancelled, moment)
    _move_many(db, moved)
    counts["cancelled"], counts["rescheduled"] = len(cancelled), len(moved)
    counts["cancelled"] += _prepare_many(db, going, moment)
    return going, counts, len(claimed)


@dataclass(frozen=True)
class _Held:
    """The cases and borrowers a batch holds the locks of."""

    cases: set[int]
    borrowers: set[int]


def _lock_without_waiting(db: Session, case_ids: list[int]) -> _Held:
    """Lock the batch's cases and their borrowers, skipping any another transaction
    holds: the sender holds its messages' rows, and a locker that takes a case and then
    its messages (a write-off cancelling them) must never wait on it in a cycle. On
    SQLite the batch holds the database write lock already: everything is held."""
    if db.get_bind().dialect.name != "postgresql":
        return _Held(set(case_ids), set(db.scalars(_borrowers_of(case_ids))))
    cases = set(
        db.scalars(
            select(Case.id)
            .where(Case.id.in_(case_ids))
            .order_by(Case.id)
            .with_for_update(skip_locked=True)
        )
    )
    return _Held(cases, try_lock_borrowers(db, db.scalars(_borrowers_of(sorted(cases)))))


def _borrowers_of(case_ids: list[int]) -> Select[int]:
    return select(Loan.borrower_id).join(Case, Case.loan_id == Loan.id).where(Case.id.in_(case_ids))


def _cancel_many(db: Session, cancelled: list[tuple[_Due, str]], moment: datetime) -> None:
    """Cancel messages with their reasons, and audit each (as ``_dispatch_one`` does)."""
    if not cancelled:
        return
    db.execute(
        update(_MESSAGES)
        .where(_MESSAGES.c.id == bindparam("mid"))
        .values(status=MessageStatus.CANCELLED.value, error=bindparam("reason")),
        [{"mid": due.id, "reason": reason} for due, reason in cancelled],
    )
    trail.record_many(
        db,
        "system",
        "message.cancel",
        moment,
        [
            (due.case_id, {"message_id": due.id, "reasons": reason.split(",")})
            for due, reason in cancelled
        ],
    )


def _move_many(db: Session, moved: list[tuple[_Due, datetime]]) -> None:
    """Move messages to their next allowed moment."""
    if not moved:
        return
    db.execute(
        update(_MESSAGES)
        .where(_MESSAGES.c.id == bindparam("mid"))
        .values(send_at=bindparam("later")),
        [{"mid": due.id, "later": later} for due, later in moved],
    )


def _prepare_many(db: Session, going: list[_Going], moment: datetime) -> int:
    """``_prepare`` for a batch: the links in one statement, the emails' case views in a
    few (``views_of``), the words message by message, then the messages, the attempts,
    the cases' last contact and the audit each in one statement. A message whose
    template's fact is gone is taken out of ``going`` and cancelled as ``stale``, no link
    issued, as ``_dispatch_one`` does. Not committed. How many were stale."""
    if not going:
        return 0
    for g in going:
        # Drawn now, stored below for the messages that go: a stale one leaves no link.
        g.token = new_token()
    views = views_of(
        db,
        [
            (g.case, borrower_today(g.case.loan.borrower.timezone, moment))
            for g in going
            # A template reads the case's facts whatever the channel (to know whether
            # it is stale); the ordinary reminder only in an email's words.
            if g.due.purpose in STRATEGY_TEMPLATES
            or (g.due.channel is Channel.EMAIL and g.due.purpose not in _OWN_WORDS)
        ],
    )
    configured = providers()
    rows = []
    stale: list[tuple[_Going, StaleMessageError]] = []
    for g in going:
        channel = g.due.channel
        borrower = g.case.loan.borrower
        opt_out = opt_out_url(borrower.id, channel)
        link = reminder_url(g.token)
        try:
            composed = compose_purpose(
                db,
                g.case,
                g.due.purpose,
                channel,
                moment,
                link=link,
                opt_out=opt_out,
                offer=g.offer,
                view=views.get(g.case.id),
            )
        except StaleMessageError as error:
            stale.append((g, error))
            continue
        provider = provider_for(configured, channel)
        email = None
        if channel is Channel.EMAIL:
            email = Email(
                to=g.address,
                to_name=borrower.full_name,
                subject=composed.subject or "",
                text=composed.text,
                html=None,
                unsubscribe_url=opt_out,
                reference=str(g.due.id),
            )
        g.outgoing = Outgoing(composed.text, email, link)
        rows.append(
            {
                "mid": g.due.id,
                "status": MessageStatus.SENDING.value,
                "send_at": moment,
                "address": g.address,
                "link_id": 0,  # issued below, once the stale are known
                "locale": composed.locale,
                "subject": composed.subject,
                "provider": provider.name,
                # As _prepare: the outbox keeps the link, a real provider's copy does not.
                "body": composed.text
                if provider.name == "outbox"
                else _redact(composed.text, g.token),
            }
        )
    if stale:
        _cancel_stale_many(db, stale, moment)
        gone = {g.due.id for g, _ in stale}
        going[:] = [g for g in going if g.due.id not in gone]
        rows = [row for row in rows if row["mid"] not in gone]
        if not going:
            return len(stale)
    issued = issue_links(
        db,
        [(g.case.id, g.offer.id if g.offer else None) for g in going],
        moment,
        tokens=[g.token for g in going],
    )
    for row, (_, link_id) in zip(rows, issued, strict=True):
        row["link_id"] = link_id
    db.execute(
        update(_MESSAGES)
        .where(_MESSAGES.c.id == bindparam("mid"))
        .values({name: bindparam(name) for name in rows[0] if name != "mid"}),
        rows,
    )
    record_attempts(db, [(g.case, g.due.channel, g.due.id) for g in going], moment, "system")
    trail.record_many(
        db,
        "system",
        "message.send",
        moment,
        [
            (
                g.case.id,
                {
                    "message_id": g.due.id,
                    "channel": g.due.channel.value,
                    "purpose": g.due.purpose,
                    "batch_id": g.due.batch_id,
                    "scheduled_by": g.due.created_by,
                },
            )
            for g in going
        ],
    )
    return len(stale)


def _cancel_stale_many(
    db: Session, stale: list[tuple[_Going, StaleMessageError]], moment: datetime
) -> None:
    """Cancel messages whose template's fact is gone, with the reason ``stale`` (no link
    was issued for them), each audited with the fact (``_cancel_stale``)."""
    db.execute(
        update(_MESSAGES)
        .where(_MESSAGES.c.id.in_([g.due.id for g, _ in stale]))
        .values(status=MessageStatus.CANCELLED.value, error=Problem.STALE.value)
    )
    trail.record_many(
        db,
        "system",
        "message.cancel",
        moment,
        [
            (
                g.case.id,
                {
                    "message_id": g.due.id,
                    "reasons": [Problem.STALE.value],
                    "purpose": error.purpose,
                    "fact": error.fact,
                },
            )
            for g, error in stale
        ],
    )


def _record_delivered(
    db: Session, going: list[_Going], delivered: Delivered, moment: datetime
) -> dict[str, int]:
    """``_deliver``'s records for a batch: each message sent with its reference, or
    failed with its reason (a certain refusal's attempt taken off the log), audited.
    Not committed. A message whose provider crashed is left ``sending``."""
    sent, failed = [], []
    for g in going:
        outcome = delivered.outcomes.get(g.due.id)
        if isinstance(outcome, SendError):
            failed.append((g, outcome))
        elif outcome is not None:
            sent.append((g, outcome))
    if sent:
        db.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id == bindparam("mid"))
            .values(
                status=MessageStatus.SENT.value,
                sent_at=moment,
                provider_reference=bindparam("reference"),
            ),
            [{"mid": g.due.id, "reference": reference[:128]} for g, reference in sent],
        )
    if failed:
        db.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id == bindparam("mid"))
            .values(status=MessageStatus.FAILED.value, error=bindparam("reason")),
            [{"mid": g.due.id, "reason": error.reason} for g, error in failed],
        )
        certain = [g.due.id for g, error in failed if error.certain]
        if certain:
            # The borrower was not contacted: the attempt does not count toward the caps.
            db.execute(delete(ContactAttempt).where(ContactAttempt.message_id.in_(certain)))
        trail.record_many(
            db,
            "system",
            "message.failed",
            moment,
            [
                (
                    g.case.id,
                    {
                        "message_id": g.due.id,
                        "channel": g.due.channel.value,
                        "error": error.reason,
                        "certain": error.certain,
                    },
                )
                for g, error in failed
            ],
        )
    return {"sent": len(sent), "failed": len(failed)}


def _fail_interrupted(db: Session, moment: datetime) -> int:
    result = db.execute(
        update(Message)
        .where(
            Message.status == MessageStatus.SENDING, Message.send_at < moment - SENDING_STALE_AFTER
        )
        .values(status=MessageStatus.FAILED, error=INTERRUPTED)
    )
    db.commit()
    # An UPDATE's result is a CursorResult, which has rowcount; execute() says Result.
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _dispatch_one(db: Session, message_id: int, moment: datetime) -> str | None:
    """Judge and send one scheduled message (cancelled as ``stale`` when its template's
    fact is gone); the name of the count it adds to, or None when another sender took it
    first. What the scheduled sender did before it sent in batches: kept as the reference
    ``_send_batch`` must agree with (a test runs both on the same messages;
    ``bench/dispatch.py`` compares their speed)."""
    lock_row(db, Message, message_id)
    message = db.get(Message, message_id, populate_existing=True)
    if message is None or message.status != MessageStatus.SCHEDULED:
        db.commit()
        return None
    case = db.get_one(Case, message.case_id)
    channel = Channel(message.channel)
    decision = judge(db, case, channel, moment, lock=True, excluding_message=message.id)
    offer = db.get(Offer, message.offer_id) if message.offer_id else None
    reason = None
    address = address_for(case.loan.borrower, channel)
    if address is None:
        reason = Problem.NO_ADDRESS.value
    elif offer is not None and usable_offer(db, case, offer.id, moment) is None:
        reason = Problem.OFFER_UNUSABLE.value
    elif not decision.allowed and decision.allowed_from is None:
        reason = ",".join(r.value for r in decision.reasons)
    if reason is not None:
        message.status = MessageStatus.CANCELLED
        message.error = reason
        trail.record(
            db,
            "system",
            "message.cancel",
            moment,
            case_id=case.id,
            message_id=message.id,
            reasons=reason.split(","),
        )
        db.commit()
        return "cancelled"
    if not decision.allowed and decision.allowed_from is not None:
        message.send_at = as_utc(decision.allowed_from).astimezone(UTC)
        db.commit()
        return "rescheduled"
    message.address = address
    try:
        outgoing = _prepare(db, case, message, moment, "system", offer)
    except StaleMessageError as stale:
        return _cancel_stale(db, message_id, moment, stale)
    trail.record(
        db,
        "system",
        "message.send",
        moment,
        case_id=case.id,
        message_id=message.id,
        channel=channel.value,
        purpose=message.purpose,
        batch_id=message.batch_id,
        scheduled_by=message.created_by,
    )
    db.commit()
    result = _deliver(db, message, outgoing, "system", moment)
    return "sent" if result.outcome is Outcome.SENT else "failed"


def _cancel_stale(
    db: Session, message_id: int, moment: datetime, stale: StaleMessageError
) -> str | None:
    """Cancel a scheduled message whose fact is gone, with the reason ``stale``: the link
    issued for it is rolled back, the message locked again (another sender may have taken
    it meanwhile: then None), cancelled and audited with which fact was gone. Commits."""
    db.rollback()
    lock_row(db, Message, message_id)
    message = db.get(Message, message_id, populate_existing=True)
    if message is None or message.status != MessageStatus.SCHEDULED:
        db.commit()
        return None
    message.status = MessageStatus.CANCELLED
    message.error = Problem.STALE.value
    trail.record(
        db,
        "system",
        "message.cancel",
        moment,
        case_id=message.case_id,
        message_id=message.id,
        reasons=[Problem.STALE.value],
        purpose=stale.purpose,
        fact=stale.fact,
    )
    db.commit()
    return "cancelled"


def dispatch_batch_job(batch_id: int) -> None:
    """A job: send a bulk batch's messages that are due now (see ``portal.core.jobs``)."""
    from portal.core import db as database
    from portal.core.clock import now

    dispatch_due(database.session(), now(), batch_id=batch_id)


def dispatch_due_job() -> None:
    """A job: send every scheduled message whose time has come, as ``haohuan messages
    send-due`` does (``haohuan strategy run`` queues one when Redis is configured, so
    the morning's messages go at once rather than at cron's next minute)."""
    from portal.core import db as database
    from portal.core.clock import now

    dispatch_due(database.session(), now(), clock=now)


# Bulk -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """What a bulk send would do for one case: send at ``send_at`` (now or later), or
    not at all, with the reasons."""

    case_id: int
    borrower_id: int
    send_at: datetime | None
    reasons: tuple[str, ...] = ()
    address: str | None = None
    locale: str = ""


@dataclass
class BulkSummary:
    """A bulk send's counts: sent now, scheduled later, refused by reason."""

    cases: int = 0
    now: int = 0
    later: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    first_later: datetime | None = None
    last_later: datetime | None = None

    @property
    def refused_total(self) -> int:
        """Every case that gets no message."""
        return sum(self.refused.values())

    def add(self, planned: Iterable[Planned], moment: datetime) -> None:
        """Count a chunk of plans."""
        for plan in planned:
            self.cases += 1
            if plan.send_at is None:
                for reason in plan.reasons[:1] or ("unknown",):
                    self.refused[reason] = self.refused.get(reason, 0) + 1
            elif plan.send_at <= moment:
                self.now += 1
            else:
                self.later += 1
                self.first_later = min(filter(None, (self.first_later, plan.send_at)))
                self.last_later = max(filter(None, (self.last_later, plan.send_at)))


def _chunks(ids: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def plan_chunk(
    db: Session, case_ids: Sequence[int], channel: Channel, moment: datetime
) -> list[Planned]:
    """For each case, when a message on ``channel`` wanted at ``moment`` may go, from a
    few queries for the whole chunk (the cases' addresses, what is already queued, and
    the contact rules' inputs in one ``ContactBook``) and the rules applied in memory.
    Two cases of one borrower are planned in turn, the first counting toward the
    second's caps."""
    if not case_ids:
        return []
    rows = db.execute(
        select(Case.id, Borrower.id, Borrower.locale, Borrower.phone, Borrower.email)
        .join(Loan, Case.loan_id == Loan.id)
        .join(Borrower, Loan.borrower_id == Borrower.id)
        .where(Case.id.in_(case_ids))
        .order_by(Case.id)
    ).all()
    queued = set(
        db.scalars(
            select(Message.case_id).where(
                Message.case_id.in_(case_ids),
                Message.channel == channel.value,
                Message.status.in_((MessageStatus.SCHEDULED, MessageStatus.SENDING)),
            )
        )
    )
    book = ContactBook.read(db, case_ids, moment, moment)
    # A chat message goes only to a borrower who linked the app: the rest have no address.
    chat = linked_accounts(db, [row[1] for row in rows]) if channel.is_chat else {}
    planned = []
    for case_id, borrower_id, locale, phone, email in rows:
        if channel.is_chat:
            address = chat.get((borrower_id, channel), "")
        else:
            address = ((phone if channel is Channel.SMS else email) or "").strip()
        if not address:
            planned.append(Planned(case_id, borrower_id, None, (Problem.NO_ADDRESS.value,)))
            continue
        if case_id in queued:
            planned.append(Planned(case_id, borrower_id, None, (Problem.ALREADY_QUEUED.value,)))
            continue
        decision = book.decide(case_id, channel, moment)
        send_at = decision.allowed_from
        reasons = tuple(reason.value for reason in decision.reasons)
        if send_at is None:
            # Permanent reasons first: they are why nothing is sent.
            permanent = tuple(r.value for r in decision.reasons if r.is_permanent)
            planned.append(Planned(case_id, borrower_id, None, permanent or reasons))
            continue
        send_at = as_utc(send_at).astimezone(UTC)
        book.add(case_id, channel, send_at)
        planned.append(Planned(case_id, borrower_id, send_at, reasons, address, locale))
    return planned


def preview_bulk(
    db: Session, case_ids: Sequence[int], channel: Channel, moment: datetime
) -> BulkSummary:
    """What queueing a reminder for each of ``case_ids`` would do now, without doing it."""
    summary = BulkSummary()
    for chunk in _chunks(case_ids, BULK_CHUNK):
        summary.add(plan_chunk(db, chunk, channel, moment), moment)
    db.rollback()
    return summary


def queue_bulk(
    db: Session,
    case_ids: Sequence[int],
    channel: Channel,
    *,
    actor: Actor,
    moment: datetime,
    segment: dict[str, Any],
) -> MessageBatch:
    """Queue a reminder on ``channel`` for every case of a segment: a batch, and one
    scheduled message per case the rules allow now or later (due now, or at its first
    allowed moment). Each chunk of cases is locked, planned and written in its own
    transaction. The messages go out through ``dispatch_due``; their links are issued
    then."""
    who = _actor_name(actor)
    batch = MessageBatch(created_by=who, created_at=moment, channel=channel.value, segment=segment)
    db.add(batch)
    db.flush()
    trail.record(
        db, actor, "message.bulk", moment, batch_id=batch.id, channel=channel.value,
        segment=segment, cases=len(case_ids),
    )  # fmt: skip
    db.commit()
    summary = BulkSummary()
    for chunk in _chunks(sorted(case_ids), BULK_CHUNK):
        _lock_cases(db, chunk)
        planned = plan_chunk(db, chunk, channel, moment)
        summary.add(planned, moment)
        rows = [
            _bulk_row(plan, batch, channel, who, moment)
            for plan in planned
            if plan.send_at is not None
        ]
        if rows:
            db.execute(insert(Message), rows)
        refused: dict[str, list[int]] = defaultdict(list)
        for plan in planned:
            if plan.send_at is None:
                refused[plan.reasons[0] if plan.reasons else "unknown"].append(plan.case_id)
        if refused:
            trail.record(
                db, actor, "message.refused", moment, batch_id=batch.id,
                channel=channel.value, refused=dict(refused),
            )  # fmt: skip
        db.execute(
            update(MessageBatch)
            .where(MessageBatch.id == batch.id)
            .values(queued=summary.now, scheduled=summary.later, refused=summary.refused_total)
        )
        db.commit()
    db.refresh(batch)
    return batch


def _bulk_row(
    plan: Planned, batch: MessageBatch, channel: Channel, who: str, moment: datetime
) -> dict[str, Any]:
    return {
        "case_id": plan.case_id,
        "borrower_id": plan.borrower_id,
        "batch_id": batch.id,
        "channel": channel.value,
        "purpose": "reminder",
        "status": MessageStatus.SCHEDULED,
        "send_at": plan.send_at,
        # Read again when it is sent: the borrower may have changed them meanwhile.
        "address": plan.address,
        "locale": plan.locale,
        "created_by": who,
        "created_at": moment,
    }


def _lock_cases(db: Session, case_ids: list[int]) -> None:
    """Lock a chunk's cases (in id order, as every locker of several cases does) until
    the chunk's commit; on SQLite, take the write lock."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(Case.id).where(Case.id.in_(case_ids)).order_by(Case.id).with_for_update())
    else:
        db.execute(update(Case).where(Case.id.in_(case_ids)).values(id=Case.id))
    # The caps are the borrowers': their contacts on cases outside the chunk count too.
    lock_borrowers(db, db.scalars(select(Loan.borrower_id).join(Case).where(Case.id.in_(case_ids))))


def case_messages(db: Session, case_id: int, limit: int = 20) -> list[Message]:
    """The case's newest messages."""
    return list(
        db.scalars(
            select(Message)
            .where(Message.case_id == case_id)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(limit)
        )
    )
