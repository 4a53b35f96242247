"""Every message's words chosen by its purpose (``Message.purpose``), and the templates a
contact strategy sends by itself (issue 14).

``compose_purpose`` is the one door: the sender (``service._prepare``) calls it with the
stored purpose and gets the words, written at sending time from the case's facts of
that moment, in the borrower's language. What each purpose may say follows
``portal.messaging.compose``: an SMS is discreet (the lender's name, a neutral line, the
link on its own line, how to stop SMS; no amount, nothing about being overdue or owing),
an email says the amounts and dates and ends with the opt-out.

A strategy's message is planned days before it goes (and may wait longer for quiet
hours, a cap or a holiday), so the fact it was planned for may be gone when it is sent:
the installment was paid, the promise kept, a plan chosen. Its template then raises
``StaleMessageError`` rather than write words that are no longer true; nothing is written,
and the sender cancels the message with the reason ``stale`` (``service._dispatch_one``;
``service.send_message`` refuses it the same way). Each template names the facts it
needs below; the ordinary purposes (reminder, offer, the dispute replies, the validation
notice) are never stale here: they are judged as they always were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation import AttemptOutcome, LoanSnapshot, attempt_dates
from negotiation.contact import Channel
from negotiation.visits import visit_hours
from portal.cases.facts import (
    CaseView,
    EndedPlan,
    ended_plan,
    live_plan,
    policy,
    snapshot_of,
    view_case,
)
from portal.cases.holds import dispute_status
from portal.cases.overdue import borrower_today
from portal.contact.gate import VALIDATION_NOTICE, borrower_rules
from portal.contact.promises import progress_of
from portal.core.i18n import lender, long_date, market_of, money
from portal.messaging.compose import (
    Composed,
    borrower_locale,
    compose,
    compose_dispute_rejected,
    compose_dispute_upheld,
    compose_validation_notice,
    compose_visit_notice,
    email_footer,
    lender_name,
    link_note,
    overdue_lines,
    sms_name,
    stop_words,
)
from portal.messaging.links import public_url
from portal.models import (
    OPEN_VISIT_STATUSES,
    Autopay,
    AutopayAttempt,
    AutopayEnd,
    AutopayStatus,
    Case,
    HomeVisit,
    LegalTrack,
    LegalTrackStatus,
    Offer,
    Payment,
    Plan,
    PlanInstallment,
    PlanStatus,
    Promise,
    PromiseStatus,
    Refund,
    RefundStatus,
)
from portal.payments.autopay import NOTICE_CARD_OFF, NOTICE_CONFIRM, NOTICE_FAILED, NOTICE_RETRY

# The ordinary purposes. An offer's message carries its offer (``Message.offer_id``).
REMINDER = "reminder"
OFFER = "offer"
# A message explaining a rejected dispute, or telling of an upheld one.
DISPUTE_REJECTED = "dispute"
DISPUTE_UPHELD = "dispute_upheld"
# The written notice of a home visit (``portal.visits``): its date range and how to
# avoid it, from the case's open visit at sending time.
VISIT_NOTICE = "visit_notice"


class StrategyTemplate(StrEnum):
    """The templates a contact strategy sends by itself (each fits ``Message.purpose``,
    16 characters). A strategy also sends the ordinary ``reminder``, and ``offer`` with
    its offer.

    - ``courtesy``: a current loan's next installment falls due soon (amount and date;
      no collection words at all).
    - ``plan_due``: the next payment of the borrower's plan falls due soon (amount, date).
    - ``plan_missed``: a plan payment is unpaid past its date: what, by when to pay to
      keep the plan, and that the plan is at risk when one more miss ends it.
    - ``plan_broken``: the plan ended on missed payments: what is overdue now, and the
      link to pay or choose a new plan.
    - ``promise_due``: the borrower's promise to pay falls due (amount, date).
    - ``promise_broken``: the promise's date passed unpaid or partly paid: what is
      overdue now.
    - ``followup``: the borrower opened their link and chose no plan: a gentle nudge to
      choose one they can afford, or to ask for help.
    - ``reminder_plan``: the ordinary reminder in other words, leading with "choose a
      plan you can afford" (a challenger to test against the champion).
    """

    COURTESY = "courtesy"
    PLAN_DUE = "plan_due"
    PLAN_MISSED = "plan_missed"
    PLAN_BROKEN = "plan_broken"
    PROMISE_DUE = "promise_due"
    PROMISE_BROKEN = "promise_broken"
    FOLLOWUP = "followup"
    REMINDER_PLAN = "reminder_plan"


STRATEGY_TEMPLATES: frozenset[str] = frozenset(StrategyTemplate)

# A "falls due soon" message (courtesy, plan_due, promise_due) is about a date at most
# this many days after the day it is sent; a later one means the date it was planned
# for has passed or was paid, and the next is a different fact: the message is stale.
DUE_SOON_DAYS = 14


class StaleMessageError(Exception):
    """The fact a message was planned for is gone by the time it is sent: no words are
    written. ``fact`` is a code saying which (for the audit log), ``purpose`` the
    message's purpose."""

    def __init__(self, purpose: str, fact: str) -> None:
        super().__init__(f"{purpose}: {fact}")
        self.purpose = purpose
        self.fact = fact


def compose_purpose(
    db: Session,
    case: Case,
    purpose: str,
    channel: Channel,
    moment: datetime,
    *,
    link: str,
    opt_out: str,
    offer: Offer | None = None,
    help_url: str | None = None,
    view: CaseView | None = None,
) -> Composed:
    """The words of a message of ``purpose`` for ``case`` on ``channel`` at ``moment``, in
    the borrower's language. ``link`` is the borrower's reminder link, ``opt_out`` the
    channel's opt-out link, ``help_url`` the help page (by default the portal's own).
    An unknown purpose, and ``offer``, are the ordinary reminder's (with its offer); an
    autopay notice (``AUTOPAY_NOTICES``) never is. Raises ``StaleMessageError`` when a
    strategy template's or an autopay notice's fact is gone. ``view``: the
    case as ``view_case`` reads it on the borrower's today, when the caller read it
    already (the scheduled sender, for a whole batch); the ordinary reminder's email
    states its amounts and timeline."""
    if purpose == DISPUTE_REJECTED:
        return compose_dispute_rejected(case, channel, link=link, opt_out=opt_out)
    if purpose == VALIDATION_NOTICE:
        return compose_validation_notice(
            db, case, moment, link=link, help_url=help_url or _help_url(), opt_out=opt_out
        )
    if purpose == VISIT_NOTICE:
        visit = db.scalars(
            select(HomeVisit)
            .where(HomeVisit.case_id == case.id, HomeVisit.status.in_(OPEN_VISIT_STATUSES))
            .limit(1)
        ).first()
        if visit is None or visit.window_first is None or visit.window_last is None:
            # The visit was cancelled (a hold, a plan, withdrawn) before the notice went.
            raise StaleMessageError(purpose, "visit")
        # Imported here: portal.visits sends through this package.
        from portal.visits.service import avoided

        if avoided(db, case, moment) is not None:
            # The borrower paid or chose a plan after the notice was kept for later: a
            # visit they avoided is not announced (the next step cancels it).
            raise StaleMessageError(purpose, "visit")
        return compose_visit_notice(
            case,
            channel,
            first=visit.window_first,
            last=visit.window_last,
            hours=visit_hours(
                policy().visits, borrower_rules(case.loan.borrower, case.loan.currency)
            ),
            link=link,
            opt_out=opt_out,
        )
    if purpose == DISPUTE_UPHELD:
        status = dispute_status(db, case, moment)
        return compose_dispute_upheld(
            case,
            channel,
            corrected=status.corrected if status else 0,
            closed=status.closed if status else False,
            link=link,
            opt_out=opt_out,
        )
    if purpose in STRATEGY_TEMPLATES or purpose in NOTICES:
        # An autopay notice is never the ordinary reminder: it says what happened to a
        # charge, or nothing (stale).
        locale = borrower_locale(case)
        today = borrower_today(case.loan.borrower.timezone, moment)
        with force_locale(locale):
            if purpose in NOTICES:
                facts = _Facts(db, case, purpose, today, locale)
                words = _NOTICE_WORDS[purpose](facts)
            else:
                template = StrategyTemplate(purpose)
                known = view if view is not None and view.case is case else None
                if known is not None and known.snapshot.as_of != today:
                    known = None
                facts = _Facts(db, case, template, today, locale, known)
                words = _TEMPLATES[template](facts)
            if channel.is_text:
                return Composed(None, _sms(words.sms, channel, link, opt_out), locale)
            text = _email(facts, words, link, opt_out, help_url or _help_url())
            return Composed(words.subject, text, locale)
    return compose(db, case, channel, moment, link=link, opt_out=opt_out, offer=offer, view=view)


def _help_url() -> str:
    return public_url("borrower.help_page")


@dataclass(frozen=True)
class _Facts:
    """What a template reads: the case on the borrower's ``today``."""

    db: Session
    case: Case
    template: str  # a StrategyTemplate, or one of the NOTICES
    today: date
    locale: str
    # The case as ``view_case`` reads it on ``today``, when the caller read it already
    # (the scheduled sender, for a whole batch): what the reads below answer from.
    view: CaseView | None = None

    def stale(self, fact: str) -> StaleMessageError:
        return StaleMessageError(str(self.template), fact)

    def snapshot(self) -> LoanSnapshot:
        """``snapshot_of`` the case on ``today``."""
        if self.view is not None:
            return self.view.snapshot
        return snapshot_of(self.db, self.case, self.today)

    def live_plan(self) -> Plan | None:
        """``live_plan`` of the case."""
        if self.view is not None:
            return self.view.plan
        return live_plan(self.db, self.case)

    def ended_plan(self) -> EndedPlan | None:
        """``ended_plan`` of the case on ``today``."""
        if self.view is not None and self.view.plan is None:
            return self.view.ended  # what view_case read: ended_plan, as no plan is live
        return ended_plan(self.db, self.case, self.today)

    def case_view(self) -> CaseView:
        """``view_case`` of the case on ``today``."""
        if self.view is not None:
            return self.view
        return view_case(self.db, self.case, self.today)

    @property
    def currency(self) -> str:
        return self.case.loan.currency

    @property
    def number(self) -> str:
        return self.case.loan.number

    @property
    def sms_lender(self) -> str:
        return sms_name(self.locale)

    def money(self, amount: int) -> str:
        return money(amount, self.currency)


@dataclass(frozen=True)
class _Words:
    """A template's words, before the parts every message has: the SMS's first line, the
    email's subject and body, what introduces the link, and whether the help page
    follows it."""

    sms: str
    subject: str
    body: list[str]
    link_intro: str
    help: bool = False


# The SMS first lines: neutral, whatever the template (see the module's docstring).
def _sms_date(facts: _Facts) -> str:
    return _("%(lender)s: a date reminder for your account. Open:", lender=facts.sms_lender)


def _sms_message(facts: _Facts) -> str:
    return _("%(lender)s: there is a message about your account. Open:", lender=facts.sms_lender)


def _sms_followup(facts: _Facts) -> str:
    return _(
        "%(lender)s: thank you for looking at your account. Your options are here:",
        lender=facts.sms_lender,
    )


def _sms_options(facts: _Facts) -> str:
    return _(
        "%(lender)s: there are options you can choose for your account. Open:",
        lender=facts.sms_lender,
    )


# The subjects, which notifications show: as discreet as an SMS.
def _subject_reminder(facts: _Facts) -> str:
    return _("%(lender)s: a reminder about your account", lender=lender_name(facts.case))


def _subject_message(facts: _Facts) -> str:
    return _("%(lender)s: a message about your account", lender=lender_name(facts.case))


def _sms(first: str, channel: Channel, link: str, opt_out: str) -> str:
    # Links stand on lines of their own, as in every SMS (``compose._sms``).
    return "\n".join([first, link, stop_words(channel), opt_out])


def _email(facts: _Facts, words: _Words, link: str, opt_out: str, help_url: str) -> str:
    borrower = facts.case.loan.borrower
    contact = lender(facts.locale, market_of(facts.currency))
    lines = [
        _("Hello %(name)s,", name=borrower.full_name),
        "",
        *words.body,
        words.link_intro,
        link,
        link_note(),
        "",
    ]
    if words.help:
        lines += [
            _(
                "If you cannot pay right now, tell us: we will pause collection while we "
                "look at it with you."
            ),
            _("The help page, once you have confirmed who you are:"),
            help_url,
            "",
        ]
    lines += email_footer(contact, opt_out)
    return "\n".join(lines) + "\n"


# The templates --------------------------------------------------------------------------


def _courtesy(facts: _Facts) -> _Words:
    """Stale when the loan is no longer current (anything overdue) or no installment is
    unpaid within ``DUE_SOON_DAYS``."""
    if facts.snapshot().arrears.total > 0:
        raise facts.stale("not_current")
    due = next(
        (i for i in facts.case.loan.installments if i.due_date >= facts.today and i.unpaid > 0),
        None,
    )
    if due is None or not _soon(facts, due.due_date):
        raise facts.stale("nothing_due_soon")
    body = [
        _(
            "This is a friendly reminder that the next installment of your loan %(number)s, "
            "%(amount)s, is due on %(date)s.",
            number=facts.number,
            amount=facts.money(due.unpaid),
            date=long_date(due.due_date),
        ),
        _("If you have already paid it, thank you: there is nothing more to do."),
        "",
    ]
    return _Words(_sms_date(facts), _subject_reminder(facts), body, _("See the details or pay:"))


def _plan_due(facts: _Facts) -> _Words:
    """Stale without a live plan, or when its next unpaid payment's date has passed (then
    it is ``plan_missed``'s) or is not within ``DUE_SOON_DAYS``."""
    plan = facts.live_plan()
    due = plan.next_due if plan is not None else None
    if plan is None or due is None:
        raise facts.stale("no_plan_payment")
    if due.due_date < facts.today or not _soon(facts, due.due_date):
        raise facts.stale("plan_payment_not_soon")
    body = [
        _(
            "The next payment of your plan for loan %(number)s, %(amount)s, is due on %(date)s.",
            number=facts.number,
            amount=facts.money(due.outstanding),
            date=long_date(due.due_date),
        ),
        _("Collection is paused while you keep to your plan.")
        if plan.status == PlanStatus.ACTIVE
        else _("Collection pauses once your first payment is made."),
        "",
    ]
    return _Words(_sms_date(facts), _subject_reminder(facts), body, _("See the details or pay:"))


@dataclass(frozen=True)
class PlanArrears:
    """Where a live plan stands after a missed payment: its payments unpaid past their
    dates; what to pay by when to keep it (``keep_by`` None when no later payment can
    still be missed); and whether missing that ends the plan (``at_risk``)."""

    unpaid: list[PlanInstallment]
    keep_amount: int
    keep_by: date | None
    at_risk: bool


def plan_arrears(installments: list[PlanInstallment], today: date, *, pending: bool) -> PlanArrears:
    """A live plan's missed payments on ``today`` under the policy in force: a payment
    counts as missed once unpaid past its date plus the grace days (the daily work marks
    it then); the plan breaks on ``misses_before_broken`` misses (or on as many as it has
    payments); a pending plan lapses if its first payment is missed. Payments go to the
    oldest unpaid installment first, so keeping the plan means paying everything up to
    the next payment that would count as missed."""
    rules = policy()
    grace = timedelta(days=rules.grace_days)
    unpaid = [i for i in installments if i.outstanding > 0 and i.due_date < today]

    def counted(item: PlanInstallment) -> bool:
        # Marked by the daily work, or unpaid past its grace and about to be.
        return item.missed_on is not None or (
            item.outstanding > 0 and item.due_date + grace < today
        )

    misses = sum(1 for i in installments if counted(i))
    upto = next((i for i in installments if i.outstanding > 0 and not counted(i)), None)
    if upto is None:
        return PlanArrears(unpaid, sum(i.outstanding for i in unpaid), None, False)
    keep_amount = sum(i.outstanding for i in installments if i.sequence <= upto.sequence)
    needed = min(rules.misses_before_broken, len(installments))
    at_risk = pending or misses + 1 >= needed
    return PlanArrears(unpaid, keep_amount, upto.due_date + grace, at_risk)


def _plan_missed(facts: _Facts) -> _Words:
    """Stale without a live plan, or when none of its payments is unpaid past its date
    (paid meanwhile)."""
    plan = facts.live_plan()
    if plan is None:
        raise facts.stale("no_plan")
    state = plan_arrears(
        list(plan.installments), facts.today, pending=plan.status == PlanStatus.PENDING
    )
    if not state.unpaid:
        raise facts.stale("plan_payments_paid")
    body = [_("Not yet received on your plan for loan %(number)s:", number=facts.number)]
    body += [
        "- "
        + _(
            "%(label)s: %(value)s",
            label=long_date(item.due_date),
            value=facts.money(item.outstanding),
        )
        for item in state.unpaid
    ]
    body.append("")
    body += _keep_lines(facts, state, pending=plan.status == PlanStatus.PENDING)
    body.append("")
    return _Words(_sms_message(facts), _subject_message(facts), body, _("See your plan and pay:"))


def _plan_broken(facts: _Facts) -> _Words:
    """Stale unless the case's latest plan broke (recently: ``ENDED_PLAN_SHOWN_DAYS`` of
    ``portal.cases.facts``), no plan has been chosen since, and something is overdue."""
    ended = facts.ended_plan()
    if ended is None or ended.plan.status != PlanStatus.BROKEN:
        raise facts.stale("no_broken_plan")
    view = _overdue_view(facts)
    body = [
        _(
            "Your plan for loan %(number)s ended on %(date)s because its payments were missed.",
            number=facts.number,
            date=long_date(ended.ended_on),
        ),
        "",
        *overdue_lines(view),
    ]
    return _Words(
        _sms_message(facts),
        _subject_message(facts),
        body,
        _("See your options: pay, or choose a new plan you can afford:"),
    )


def _open_promise(facts: _Facts) -> tuple[Promise, int]:
    promise = facts.db.scalars(
        select(Promise)
        .where(Promise.case_id == facts.case.id, Promise.status == PromiseStatus.OPEN)
        .order_by(Promise.id.desc())
        .limit(1)
    ).first()
    if promise is None:
        raise facts.stale("no_open_promise")
    paid = progress_of(facts.db, facts.case, [promise])[promise.id]
    return promise, paid


def _promise_due(facts: _Facts) -> _Words:
    """Stale without an open promise, when its date has passed or is not within
    ``DUE_SOON_DAYS``, or when it is paid in full."""
    promise, paid = _open_promise(facts)
    if promise.due_date < facts.today or not _soon(facts, promise.due_date):
        raise facts.stale("promise_not_soon")
    if paid >= promise.amount:
        raise facts.stale("promise_paid")
    body = [
        _(
            "As agreed with us, %(amount)s is to be paid on your loan %(number)s by %(date)s.",
            amount=money(promise.amount, promise.currency),
            number=facts.number,
            date=long_date(promise.due_date),
        )
    ]
    if paid > 0:
        body.append(
            _(
                "We have received %(paid)s of it so far: %(left)s is left to pay.",
                paid=money(paid, promise.currency),
                left=money(promise.amount - paid, promise.currency),
            )
        )
    body.append("")
    return _Words(_sms_date(facts), _subject_reminder(facts), body, _("See the details or pay:"))


def _promise_broken(facts: _Facts) -> _Words:
    """Stale unless the case's latest promise was broken or partly kept, no plan has been
    chosen since, and something is overdue."""
    promise = facts.db.scalars(
        select(Promise)
        .where(Promise.case_id == facts.case.id)
        .order_by(Promise.made_at.desc(), Promise.id.desc())
        .limit(1)
    ).first()
    if promise is None or promise.status not in (PromiseStatus.BROKEN, PromiseStatus.PARTLY_KEPT):
        raise facts.stale("no_broken_promise")
    view = _overdue_view(facts)
    amount, day = money(promise.amount, promise.currency), long_date(promise.due_date)
    if promise.paid > 0:
        told = _(
            "You told us you would pay %(amount)s by %(date)s; we received %(paid)s of it.",
            amount=amount,
            date=day,
            paid=money(promise.paid, promise.currency),
        )
    else:
        told = _(
            "You told us you would pay %(amount)s by %(date)s, and we have not received it.",
            amount=amount,
            date=day,
        )
    body = [told, "", *overdue_lines(view)]
    return _Words(
        _sms_message(facts),
        _subject_message(facts),
        body,
        _("See the details, pay, or choose a plan you can afford:"),
    )


def _followup(facts: _Facts) -> _Words:
    """Stale once a plan is chosen, or when nothing is overdue."""
    view = _overdue_view(facts)
    body = [
        _("Thank you for looking at your loan %(number)s.", number=facts.number),
        "",
        _(
            "Your loan %(number)s has %(amount)s overdue.",
            number=facts.number,
            amount=facts.money(view.snapshot.arrears.total),
        ),
        _(
            "If paying it all at once is hard, you can choose a plan that fits what you can "
            "afford: it takes a few minutes, and collection pauses once your first payment "
            "is made."
        ),
        "",
    ]
    return _Words(
        _sms_followup(facts),
        _subject_message(facts),
        body,
        _("Choose a plan you can afford:"),
        help=True,
    )


def _reminder_plan(facts: _Facts) -> _Words:
    """The ordinary reminder's email, led by the plans. Stale once a plan is chosen, or
    when nothing is overdue."""
    view = _overdue_view(facts)
    body = [
        _(
            "You can choose a plan you can afford: the link shows plans that spread what is "
            "overdue over payments that fit your budget."
        ),
        "",
        *overdue_lines(view),
    ]
    return _Words(
        _sms_options(facts),
        _subject_message(facts),
        body,
        _("See the details, pay, or choose a plan you can afford:"),
    )


def _overdue_view(facts: _Facts) -> CaseView:
    """The case's view, for a template about what is overdue: stale when a plan is live
    (chosen since the message was planned) or nothing is overdue."""
    if facts.live_plan() is not None:
        raise facts.stale("plan_chosen")
    view = facts.case_view()
    if view.snapshot.arrears.total <= 0:
        raise facts.stale("nothing_overdue")
    return view


def _soon(facts: _Facts, day: date) -> bool:
    return day <= facts.today + timedelta(days=DUE_SOON_DAYS)


_TEMPLATES: dict[StrategyTemplate, Callable[[_Facts], _Words]] = {
    StrategyTemplate.COURTESY: _courtesy,
    StrategyTemplate.PLAN_DUE: _plan_due,
    StrategyTemplate.PLAN_MISSED: _plan_missed,
    StrategyTemplate.PLAN_BROKEN: _plan_broken,
    StrategyTemplate.PROMISE_DUE: _promise_due,
    StrategyTemplate.PROMISE_BROKEN: _promise_broken,
    StrategyTemplate.FOLLOWUP: _followup,
    StrategyTemplate.REMINDER_PLAN: _reminder_plan,
}


# The autopay notices ---------------------------------------------------------------------
#
# Queued by the autopay run (``portal.payments.autopay``) the moment a charge fails, and
# sent when the contact rules allow: by then the borrower may have paid, turned autopay
# back on with another card, or the retry may have been made. The notice reads the plan's
# latest attempt (or mandate) at sending time and is stale when what it would say is no
# longer true.

AUTOPAY_NOTICES: frozenset[str] = frozenset(
    {NOTICE_RETRY, NOTICE_CONFIRM, NOTICE_CARD_OFF, NOTICE_FAILED}
)


@dataclass(frozen=True)
class _Charge:
    """The plan's latest automatic charge: the plan, the attempt, its installment."""

    plan: Plan
    attempt: AutopayAttempt
    installment: PlanInstallment


def _latest_charge(facts: _Facts, outcome: AttemptOutcome) -> _Charge:
    """The live plan's latest attempt, when it came to ``outcome`` and its installment is
    still unpaid; else stale (no plan, a later attempt made, or the installment paid)."""
    plan = facts.live_plan()
    if plan is None:
        raise facts.stale("no_plan")
    attempt = facts.db.scalars(
        select(AutopayAttempt)
        .join(PlanInstallment, PlanInstallment.id == AutopayAttempt.installment_id)
        .where(PlanInstallment.plan_id == plan.id)
        .order_by(AutopayAttempt.id.desc())
        .limit(1)
    ).first()
    if attempt is None or attempt.outcome is not outcome:
        raise facts.stale("attempt_superseded")
    installment = facts.db.get(PlanInstallment, attempt.installment_id)
    if installment is None or installment.outstanding <= 0:
        raise facts.stale("installment_paid")
    return _Charge(plan, attempt, installment)


def _retry_day(charge: _Charge) -> date | None:
    """The day the declined attempt is tried again, if another attempt is scheduled
    (``negotiation.attempt_dates`` under the policy in force, as the run reads it)."""
    rules = policy()
    days = attempt_dates(
        charge.installment.due_date, rules.autopay_retry_after_days, rules.grace_days
    )
    return next((day for day in days if day > charge.attempt.scheduled_on), None)


def _declined_line(facts: _Facts, charge: _Charge) -> str:
    return _(
        "The automatic payment of %(amount)s for your plan's installment due on %(date)s "
        "was declined by your card's bank.",
        amount=money(charge.attempt.amount, charge.attempt.currency),
        date=long_date(charge.installment.due_date),
    )


def _autopay_retry(facts: _Facts) -> _Words:
    """A declined charge that is tried again. Stale when the installment was paid, a
    later attempt was made, autopay was turned off, or no retry is left (or its day has
    passed: the run made it)."""
    charge = _latest_charge(facts, AttemptOutcome.DECLINED)
    autopay = facts.db.get(Autopay, charge.attempt.autopay_id)
    if autopay is None or autopay.status is not AutopayStatus.ON:
        raise facts.stale("autopay_off")
    retry = _retry_day(charge)
    if retry is None:
        raise facts.stale("no_retry_left")
    if retry < facts.today:
        raise facts.stale("retry_passed")
    body = [
        _declined_line(facts, charge),
        _(
            "We will try to charge your card again on %(date)s. You need not do anything, "
            "but you may pay it now yourself instead.",
            date=long_date(retry),
        ),
        "",
    ]
    return _Words(_sms_message(facts), _subject_message(facts), body, _("See your plan and pay:"))


def _autopay_confirm(facts: _Facts) -> _Words:
    """A charge the card's bank wants the borrower to confirm: it is never retried by
    itself. Stale when the installment was paid or a later attempt was made."""
    charge = _latest_charge(facts, AttemptOutcome.NEEDS_AUTHENTICATION)
    body = [
        _(
            "Your card's bank asks you to confirm the automatic payment of %(amount)s for "
            "your plan's installment due on %(date)s.",
            amount=money(charge.attempt.amount, charge.attempt.currency),
            date=long_date(charge.installment.due_date),
        ),
        _(
            "It will not be tried again by itself: open the link to confirm and pay it on "
            "your phone."
        ),
        *_plan_keep_lines(facts, charge.plan),
        "",
    ]
    return _Words(_sms_message(facts), _subject_message(facts), body, _("Confirm and pay:"))


def _autopay_failed(facts: _Facts) -> _Words:
    """The last automatic try of an installment failed: what to pay by when to keep the
    plan, by the plan's rules (``plan_arrears``). Stale when the installment was paid, a
    later attempt was made, or another retry is scheduled after all."""
    charge = _latest_charge(facts, AttemptOutcome.DECLINED)
    if _retry_day(charge) is not None:
        raise facts.stale("retry_left")
    body = [
        _declined_line(facts, charge),
        _("This was the last automatic try: it will not be charged again."),
        *_plan_keep_lines(facts, charge.plan),
        "",
    ]
    return _Words(_sms_message(facts), _subject_message(facts), body, _("See your plan and pay:"))


def _keep_lines(facts: _Facts, state: PlanArrears, *, pending: bool) -> list[str]:
    """What to pay by when to keep the plan, and whether missing it ends the plan (or,
    for a pending plan, keeps it from starting): the plan's rules as ``plan_arrears``
    reads them."""
    if state.keep_by is None:
        return [_("Please pay it as soon as you can.")]
    lines = [
        _(
            "To keep your plan, pay %(amount)s by %(date)s.",
            amount=facts.money(state.keep_amount),
            date=long_date(state.keep_by),
        )
    ]
    if state.at_risk and pending:
        lines.append(
            _(
                "Your plan starts with this payment: if it is not paid by %(date)s, the "
                "plan does not start.",
                date=long_date(state.keep_by),
            )
        )
    elif state.at_risk:
        lines.append(
            _(
                "Your plan is at risk: if this is not paid by %(date)s, the plan ends and "
                "collection resumes.",
                date=long_date(state.keep_by),
            )
        )
    return lines


def _plan_keep_lines(facts: _Facts, plan: Plan) -> list[str]:
    """``_keep_lines`` of a plan on the borrower's today."""
    pending = plan.status == PlanStatus.PENDING
    state = plan_arrears(list(plan.installments), facts.today, pending=pending)
    return _keep_lines(facts, state, pending=pending)


def _autopay_card_off(facts: _Facts) -> _Words:
    """Autopay turned off because the card can no longer be charged. Stale without a live
    plan, when the plan's latest mandate is live again (another card saved) or did not
    end for the card."""
    plan = facts.live_plan()
    if plan is None:
        raise facts.stale("no_plan")
    autopay = facts.db.scalars(
        select(Autopay).where(Autopay.plan_id == plan.id).order_by(Autopay.id.desc()).limit(1)
    ).first()
    if autopay is None or autopay.status is not AutopayStatus.OFF:
        raise facts.stale("autopay_on")
    if autopay.ended_because not in (AutopayEnd.CARD_EXPIRED, AutopayEnd.CARD_UNUSABLE):
        raise facts.stale("not_ended_by_card")
    card = autopay.card
    if autopay.ended_because is AutopayEnd.CARD_EXPIRED:
        first = _(
            "The card ending in %(last4)s has expired, so automatic payments of your plan "
            "for loan %(number)s are now off.",
            last4=card.last4 if card else "····",
            number=facts.number,
        )
    else:
        first = _(
            "The card ending in %(last4)s can no longer be charged, so automatic payments "
            "of your plan for loan %(number)s are now off.",
            last4=card.last4 if card else "····",
            number=facts.number,
        )
    body = [first]
    due = plan.next_due
    if due is not None:
        body.append(
            _(
                "The next payment of your plan, %(amount)s, is due on %(date)s.",
                amount=facts.money(due.outstanding),
                date=long_date(due.due_date),
            )
        )
    body += [
        _(
            "To keep paying automatically, add another card; or pay each installment "
            "yourself. Both are on the page behind the link."
        ),
        "",
    ]
    return _Words(
        _sms_message(facts),
        _subject_message(facts),
        body,
        _("Add another card, or pay yourself:"),
    )


_AUTOPAY_WORDS: dict[str, Callable[[_Facts], _Words]] = {
    NOTICE_RETRY: _autopay_retry,
    NOTICE_CONFIRM: _autopay_confirm,
    NOTICE_FAILED: _autopay_failed,
    NOTICE_CARD_OFF: _autopay_card_off,
}


# The refund notice -----------------------------------------------------------------------
#
# Queued when a refund finance made from the console succeeds (``portal.finance.refunds``),
# and sent when the contact rules allow, in the borrower's language. It tells what was
# refunded from which payment; the SMS stays discreet, as every SMS does.

REFUND_NOTICE = "refund"


def _latest_refund(facts: _Facts) -> Refund:
    """The case's latest refund that succeeded; stale when there is none."""
    refund = facts.db.scalars(
        select(Refund)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.case_id == facts.case.id, Refund.status == RefundStatus.SUCCEEDED)
        .order_by(Refund.finished_at.desc(), Refund.id.desc())
        .limit(1)
    ).first()
    if refund is None:
        raise facts.stale("no_refund")
    return refund


def _refund_notice(facts: _Facts) -> _Words:
    """What finance refunded of which payment. Stale only when no refund succeeded."""
    refund = _latest_refund(facts)
    payment = facts.db.get_one(Payment, refund.payment_id)
    paid_on = borrower_today(
        facts.case.loan.borrower.timezone, payment.confirmed_at or payment.created_at
    )
    body = [
        _(
            "We have refunded %(amount)s of your payment of %(paid)s made on %(date)s "
            "for loan %(number)s.",
            amount=money(refund.amount, refund.currency),
            paid=money(payment.amount, payment.currency),
            date=long_date(paid_on),
            number=facts.number,
        ),
        _(
            "The money goes back to the card or account you paid with; your bank may take "
            "a few days to show it."
        ),
        "",
    ]
    return _Words(_sms_message(facts), _subject_message(facts), body, _("See your account:"))


# The legal track's final notice (``portal.legal.service.send_final_notice``), sent with
# its letter: what is overdue, the deadline, and that a payment or a plan by then stops
# the track. Stale once the track is no longer waiting on its deadline (stopped, paid).
LEGAL_NOTICE = "legal_notice"


def _legal_notice(facts: _Facts) -> _Words:
    """The final notice before legal action: the amount, the deadline, what stops it."""
    track = facts.db.scalars(
        select(LegalTrack).where(
            LegalTrack.case_id == facts.case.id,
            LegalTrack.status == LegalTrackStatus.NOTICED,
        )
    ).first()
    if track is None or track.deadline is None:
        raise facts.stale("no_noticed_track")
    overdue = facts.snapshot().arrears.total
    body = [
        _(
            "This is our final notice before legal action on loan %(number)s: "
            "%(amount)s is overdue.",
            number=facts.number,
            amount=facts.money(overdue),
        ),
        _(
            "Unless you pay, or agree a plan with us, by %(date)s, we may apply to the "
            "court. Any payment or plan agreed by that date stops this.",
            date=long_date(track.deadline),
        ),
        _("We have also sent you this notice by post."),
        "",
    ]
    return _Words(
        _sms_message(facts), _subject_message(facts), body, _("See your options:"), help=True
    )


# Notices: each says what happened, in its own words, or nothing (stale).
NOTICES: frozenset[str] = frozenset({*AUTOPAY_NOTICES, REFUND_NOTICE, LEGAL_NOTICE})
_NOTICE_WORDS: dict[str, Callable[[_Facts], _Words]] = {
    **_AUTOPAY_WORDS,
    REFUND_NOTICE: _refund_notice,
    LEGAL_NOTICE: _legal_notice,
}
