"""The top of the agent's case page: may the borrower be called now, what is waiting on
the case, and what to do next.

``case_now`` reads, in a handful of statements, what an agent must see before anything
else: the gate's answer to "may I call now?" (``calls.call_check``, the very answer the
call-check page gives), the open callback, the open promise to pay and whether it is due
or past its date, the open flags with their reasons, the standing hold (its review or
end date, a dispute's resolution waiting for sign-off), the owner, and whether the live
plan's installments are charged automatically (an agent asking for a payment must know).
``next_actions`` turns that into the primary action and the others. Reads only: nothing
is written or committed here (the case page records its view itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation.contact import Channel
from portal.cases.flags import open_flags
from portal.cases.holds import standing
from portal.cases.overdue import borrower_today
from portal.contact.callbacks import open_callback
from portal.contact.calls import CallCheck, call_check
from portal.contact.gate import judge
from portal.core.i18n import zoned_time
from portal.messaging.chat import linked_accounts
from portal.models import (
    LIVE_AUTOPAY_STATUSES,
    LIVE_PLAN_STATUSES,
    Autopay,
    AutopayStatus,
    Callback,
    Case,
    CaseFlag,
    CaseHold,
    HoldStatus,
    Plan,
    Promise,
    PromiseStatus,
    StaffMember,
)

# The channels a reminder goes by, in the order they are offered (as messaging sends).
MESSAGE_CHANNELS = (Channel.SMS, Channel.EMAIL, Channel.LINE, Channel.WECHAT)


class Action(StrEnum):
    """What an agent can do from the top of the case page."""

    LOG_CALL = "log_call"
    REVIEW_HOLD = "review_hold"
    SEND_MESSAGE = "send_message"
    MAKE_OFFER = "make_offer"
    PRINT_LETTER = "print_letter"


class PromiseState(StrEnum):
    """Where the open promise stands on the borrower's today."""

    COMING = "coming"  # its date is still ahead
    DUE = "due"  # due today
    PAST = "past"  # its date has passed unpaid: the daily work will mark it broken


@dataclass(frozen=True)
class CaseNow:
    """What the case page shows above the fold."""

    check: CallCheck
    callback: Callback | None
    callback_time: str | None  # its moment on the borrower's clock, zone named
    promise: Promise | None
    promise_state: PromiseState | None
    flags: list[CaseFlag]
    hold: CaseHold | None
    owner: StaffMember | None
    # The live plan's autopay, on or waiting for its card; None without one.
    autopay: AutopayStatus | None
    # The reminder channels the rules allow now, with an address; None when not asked
    # (the call is allowed, or a hold comes first: the answer would change nothing).
    message_channels: tuple[Channel, ...] | None
    primary: Action
    others: tuple[Action, ...]

    @property
    def hold_waits_for_sign_off(self) -> bool:
        """True when a dispute's resolution was proposed and waits for a supervisor."""
        return self.hold is not None and self.hold.status == HoldStatus.PROPOSED


def promise_state(promise: Promise, today: date) -> PromiseState:
    """Where an open promise stands on ``today`` (the borrower's)."""
    if promise.due_date > today:
        return PromiseState.COMING
    return PromiseState.DUE if promise.due_date == today else PromiseState.PAST


def next_actions(
    callable_now: bool, on_hold: bool, message_allowed: bool
) -> tuple[Action, tuple[Action, ...]]:
    """The primary action and the others, in order. A call when the rules allow one;
    else the hold's review when one stands (nothing else moves the case); else a message
    on a channel the rules allow now; else an offer the borrower can take up when they
    next come. The others keep one order, so an agent finds each in its place."""
    if callable_now:
        primary = Action.LOG_CALL
    elif on_hold:
        primary = Action.REVIEW_HOLD
    elif message_allowed:
        primary = Action.SEND_MESSAGE
    else:
        primary = Action.MAKE_OFFER
    order = [Action.LOG_CALL, Action.SEND_MESSAGE, Action.MAKE_OFFER, Action.PRINT_LETTER]
    if on_hold:
        order.insert(1, Action.REVIEW_HOLD)
    return primary, tuple(action for action in order if action is not primary)


def _open_promise(db: Session, case: Case) -> Promise | None:
    return db.scalars(
        select(Promise)
        .where(Promise.case_id == case.id, Promise.status == PromiseStatus.OPEN)
        .order_by(Promise.made_at.desc(), Promise.id.desc())
        .limit(1)
    ).first()


def _message_channels(db: Session, case: Case, moment: datetime) -> tuple[Channel, ...]:
    borrower = case.loan.borrower
    # LINE and WeChat only where the borrower linked them (``portal.messaging.chat``).
    linked = linked_accounts(db, [borrower.id])
    addresses = {
        Channel.SMS: borrower.phone,
        Channel.EMAIL: borrower.email,
        Channel.LINE: linked.get((borrower.id, Channel.LINE)),
        Channel.WECHAT: linked.get((borrower.id, Channel.WECHAT)),
    }
    return tuple(
        channel
        for channel in MESSAGE_CHANNELS
        if (addresses[channel] or "").strip() and judge(db, case, channel, moment).allowed
    )


def _live_autopay(db: Session, case: Case) -> AutopayStatus | None:
    return db.scalars(
        select(Autopay.status)
        .join(Plan, Plan.id == Autopay.plan_id)
        .where(
            Plan.case_id == case.id,
            Plan.status.in_(LIVE_PLAN_STATUSES),
            Autopay.status.in_(LIVE_AUTOPAY_STATUSES),
        )
        .limit(1)
    ).first()


def case_now(db: Session, case: Case, moment: datetime) -> CaseNow:
    """What the top of the case page shows at ``moment``. Reads only."""
    zone = case.loan.borrower.timezone
    check = call_check(db, case, moment)
    callback = open_callback(db, case.id)
    promise = _open_promise(db, case)
    hold = standing(db, case)
    on_hold = hold is not None or case.hold is not None
    channels = None
    if not check.allowed and not on_hold:
        channels = _message_channels(db, case, moment)
    primary, others = next_actions(check.allowed, on_hold, bool(channels))
    return CaseNow(
        check=check,
        callback=callback,
        callback_time=zoned_time(callback.due_at, zone, seconds=False) if callback else None,
        promise=promise,
        promise_state=promise_state(promise, borrower_today(zone, moment)) if promise else None,
        flags=open_flags(db, case.id),
        hold=hold,
        owner=db.get(StaffMember, case.owner_id) if case.owner_id else None,
        autopay=_live_autopay(db, case),
        message_channels=channels,
        primary=primary,
        others=others,
    )
