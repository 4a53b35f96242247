"""Reminders on the agent console: sending one from a case (refused with the reasons and
the time it becomes allowed, or scheduled for then), the case's messages and opt-outs,
the outbox, and bulk reminders to a segment of the queue. Views read their forms
(``message_forms``), call ``portal.messaging.service`` (and ``queries`` for what they
list), and render; every action is in the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from werkzeug.wrappers import Response

from negotiation.contact import Channel, ContactDecision, ContactRefusal
from portal.audit import trail
from portal.cases import casefile
from portal.cases import queue as case_queue
from portal.cases.masking import mask_email, mask_phone
from portal.contact.gate import REFUSAL_TEXT, VALIDATION_NOTICE, judge, refusal_reasons
from portal.core import db, jobs
from portal.core.db import Session, by_id
from portal.core.i18n import zoned_time
from portal.messaging import queries, service
from portal.messaging.purposes import StrategyTemplate
from portal.messaging.service import Problem
from portal.models import (
    Case,
    Message,
    MessageBatch,
    Offer,
    StaffMember,
)
from portal.payments.autopay import NOTICE_CARD_OFF, NOTICE_CONFIRM, NOTICE_FAILED, NOTICE_RETRY
from portal.strategy import reporting
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.agent.message_forms import (
    CHOOSE_SENT_CHANNEL,
    BulkPreviewForm,
    BulkSendForm,
    OptOutForm,
    OutboxForm,
    SendMessageForm,
)
from portal.web.common.pages import problem_page
from portal.web.staff.auth import staff_required
from portal.wording import strategy as strategy_words

SECTION = "agent/_case_messages.html"
OUTBOX_PAGE = 50
BATCH_SHOWN = 100

# A provider's stored name, where it is not a brand: the demo's and tests' outbox.
PROVIDER_NAMES = {"outbox": _l("Outbox (kept here, not sent)")}

CHANNEL_NAMES = {
    "sms": _l("SMS"),
    "email": lazy_pgettext("channel", "Email"),
    "letter": _l("Letter"),
    "call": _l("Phone calls"),
    "line": _l("LINE"),
    "wechat": _l("WeChat"),
}
STATUS_NAMES = {
    "scheduled": _l("Scheduled"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "cancelled": _l("Canceled"),
}
PURPOSE_NAMES = {
    "reminder": _l("Reminder"),
    "offer": _l("Offer"),
    VALIDATION_NOTICE: _l("Validation notice"),
    # What contact strategies send by themselves (``portal.messaging.purposes``).
    StrategyTemplate.COURTESY: _l("Courtesy reminder"),
    StrategyTemplate.PLAN_DUE: _l("Plan payment due"),
    StrategyTemplate.PLAN_MISSED: _l("Plan payment missed"),
    StrategyTemplate.PLAN_BROKEN: _l("Plan ended"),
    StrategyTemplate.PROMISE_DUE: _l("Promise due"),
    StrategyTemplate.PROMISE_BROKEN: _l("Promise not kept"),
    StrategyTemplate.FOLLOWUP: _l("Follow-up after a visit"),
    StrategyTemplate.REMINDER_PLAN: _l("Reminder, plans first"),
    # What the autopay run tells the borrower (``portal.payments.autopay``).
    NOTICE_RETRY: _l("Automatic payment declined, to be retried"),
    NOTICE_CONFIRM: _l("Automatic payment to confirm"),
    NOTICE_CARD_OFF: _l("Automatic payments off: card unusable"),
    NOTICE_FAILED: _l("Automatic payment failed"),
}
NOT_LINKED = _l("The borrower has not linked this app (only they can, from the portal).")
PROBLEM_TEXT = {
    Problem.NO_ADDRESS.value: _l("The borrower has no address on file for this channel."),
    Problem.OFFER_UNUSABLE.value: _l(
        "The offer is no longer open (accepted, withdrawn, declined or expired)."
    ),
    Problem.ALREADY_QUEUED.value: _l(
        "A message on this channel is already waiting to be sent to this case."
    ),
    Problem.CASE_RESOLVED.value: _l(
        "The case is resolved: nothing is owed, so no reminder or offer is sent."
    ),
    Problem.STALE.value: _l(
        "What the message was about had changed by the time it was due (paid, kept or "
        "replaced), so it was not sent."
    ),
}
VALIDATION_BY_EMAIL = _l("The validation notice is sent by email.")
SOURCE_NAMES = {
    "link": _l("Opt-out link in a message"),
    "agent": _l("Told an agent"),
    "borrower_portal": _l("Borrower portal"),
    "sms_reply": _l("Replied STOP to an SMS"),
}


def reason_text(code: str) -> str:
    """A stored refusal or cancellation code as a sentence."""
    if code in PROBLEM_TEXT:
        return str(PROBLEM_TEXT[code])
    try:
        return str(REFUSAL_TEXT[ContactRefusal(code)])
    except ValueError:
        return code


# Why a message was not sent (``portal.messaging.providers.SendFailure``, and a send
# interrupted midway), in the reader's language.
FAILURE_TEXT = {
    "sms_timeout": _l("The SMS provider did not answer in time: the message may have been sent."),
    "sms_unreachable": _l("The SMS provider could not be reached: the message was not sent."),
    "sms_refused": _l("The SMS provider refused the message."),
    "sms_provider_error": _l(
        "The SMS provider had a fault of its own: the message may have been sent."
    ),
    "sms_no_reference": _l(
        "The SMS provider's answer had no message reference: the message may have been sent."
    ),
    "mail_timeout": _l("The mail server did not answer in time: the email may have been sent."),
    "mail_unreachable": _l("The mail server could not be reached: the email was not sent."),
    "mail_refused": _l("The mail server refused the email."),
    "mail_recipient_refused": _l("The mail server refused the recipient's address."),
    "interrupted": _l("Sending was interrupted: whether it arrived is unknown."),
}
UNKNOWN_FAILURE = _l("The provider did not take the message.")
# Failures stored before they were codes: their English words, the code they mean, and
# how much of the stored text is the provider's detail (nothing, after ": ", or all).
LEGACY_FAILURES = (
    ("no answer from the SMS provider in time", "sms_timeout", "none"),
    ("SMS provider unreachable", "sms_unreachable", "after"),
    ("the SMS provider's answer carries no message reference", "sms_no_reference", "none"),
    ("HTTP 5", "sms_provider_error", "all"),
    ("HTTP ", "sms_refused", "all"),
    ("no answer from the mail server in time", "mail_timeout", "none"),
    ("mail server unreachable", "mail_unreachable", "after"),
    ("the mail server refused the recipient", "mail_recipient_refused", "none"),
    ("SMTP ", "mail_refused", "all"),
    ("interrupted while sending", "interrupted", "none"),
)


def failure_text(stored: str | None) -> tuple[str, str]:
    """A failed message's stored error as a sentence in the reader's language, and the
    provider's technical detail (its status and error code) when there is one."""
    text = stored or ""
    code, _colon, detail = text.partition(": ")
    if code in FAILURE_TEXT:
        return str(FAILURE_TEXT[code]), detail
    for words, legacy, kept in LEGACY_FAILURES:
        if text.startswith(words):
            shown = {"none": "", "after": detail, "all": text}[kept]
            return str(FAILURE_TEXT[legacy]), shown
    return str(UNKNOWN_FAILURE), text


def borrower_time(moment: datetime | None, zone: str) -> str:
    """A stored moment on the borrower's clock, with the zone named."""
    # The date and the time to the minute: seconds mean nothing to a borrower's day.
    return zoned_time(moment, zone, seconds=False)


def masked(message: Message) -> str:
    """The message's address as the console shows it."""
    if message.channel == "sms":
        return mask_phone(message.address)
    if message.channel == "email":
        return mask_email(message.address)
    if message.channel in ("line", "wechat") and message.address:
        return _masked(Channel(message.channel), message.address)
    return "—"


@blueprint.context_processor
def message_wording() -> dict[str, Any]:
    """The words for stored message codes, in every agent template."""
    return {
        "MESSAGE_CHANNEL_NAMES": CHANNEL_NAMES,
        "MESSAGE_STATUS_NAMES": STATUS_NAMES,
        "MESSAGE_PURPOSE_NAMES": PURPOSE_NAMES,
        "MESSAGE_PROVIDER_NAMES": PROVIDER_NAMES,
        "OPT_OUT_SOURCE_NAMES": SOURCE_NAMES,
        "message_reason": reason_text,
        "message_failure": failure_text,
        "borrower_time": borrower_time,
        "masked_address": masked,
        "strategy_words": strategy_words,
    }


def _case_url(case: Case) -> str:
    """The case page once the console serves one; this module's own page until then."""
    if "agent.case" in current_app.view_functions:
        return url_for("agent.case", case_id=case.id, section="messages", _anchor="messages")
    return url_for("agent.case_messages", case_id=case.id)


# The case page's section ----------------------------------------------------------------


def _channel_state(
    database: Session, case: Case, channel: Channel, moment: datetime
) -> dict[str, Any]:
    """May a message go now on ``channel``: the rules' answer without taking the lock
    (sending asks again under it)."""
    address = service.address_for(case.loan.borrower, channel)
    if address is None:
        # A chat app is reached only once the borrower linked it from the portal.
        missing = NOT_LINKED if channel.is_chat else None
        return {
            "channel": channel.value,
            "address": None,
            "allowed": False,
            "reasons": [],
            "missing": missing,
        }
    decision = judge(database, case, channel, moment)
    return {
        "channel": channel.value,
        "address": _masked(channel, address),
        "allowed": decision.allowed,
        "reasons": refusal_reasons(decision),
        "allowed_from": _allowed_from(decision, case),
    }


def _masked(channel: Channel, address: str) -> str:
    """The address as the console shows it: a chat account's id by its first letters."""
    if channel.is_chat:
        return address[:4] + "…"
    return mask_phone(address) if channel is Channel.SMS else mask_email(address)


def _allowed_from(decision: ContactDecision, case: Case) -> str | None:
    if decision.allowed or decision.allowed_from is None:
        return None
    return borrower_time(decision.allowed_from, case.loan.borrower.timezone)


def messages_context(database: Session, case: Case, moment: datetime) -> dict[str, Any]:
    """What the messages section shows, under one name (``messages_panel``): each
    channel's state now, the offers that can be sent, the case's messages and the
    borrower's opt-outs."""
    offers = queries.sendable_offers(database, case, moment)
    return {
        "messages_panel": {
            "case": case,
            "channels": [
                _channel_state(database, case, channel, moment)
                for channel in service.MESSAGE_CHANNELS
            ],
            "offers": offers,
            "messages": service.case_messages(database, case.id),
            "opt_outs": service.active_opt_outs(database, case.loan.borrower_id),
            "zone": case.loan.borrower.timezone,
            "validation_due": service.needs_validation_notice(database, case),
            "strategy": reporting.case_record(database, case.id),
        }
    }


@case_section(40, SECTION, name="messages", label=_l("Reminders"))
def messages_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case page's reminders: send, the case's messages, opt-outs."""
    return messages_context(database, case, moment)


@blueprint.get("/cases/<int:case_id>/messages")
@staff_required("agent")
def case_messages(case_id: int) -> Response:
    """The case's reminders on a page of their own."""
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    # Its messages and addresses, as the outbox shows them: a view of the case, recorded.
    casefile.record_view(db.session(), g.staff, case, g.now, page="messages")
    context = messages_context(db.session(), case, g.now)
    return make_response(render_template("agent/case_messages.html", case=case, **context))


# Sending one -------------------------------------------------------------------------------


def _result_page(case: Case, status: int, **context: Any) -> Response:
    page = render_template(
        "agent/message_result.html", case=case, case_url=_case_url(case), **context
    )
    return make_response(page, status)


@blueprint.post("/cases/<int:case_id>/messages")
@staff_required("agent")
def send_message(case_id: int) -> Response:
    """Send a reminder (or an offer's link) now if the rules allow it; else say why and
    from when, and offer to schedule it for then (``schedule=1``)."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = SendMessageForm()
    if not form.validate():
        return _result_page(case, 422, problem=str(CHOOSE_SENT_CHANNEL))
    channel = form.sent_channel()
    if form.validation_notice():
        if channel is not Channel.EMAIL:
            return _result_page(case, 422, problem=str(VALIDATION_BY_EMAIL))
        result = service.send_validation_notice(database, case, g.staff, g.now)
        return _sent_or_refused(case, channel, None, result)
    offer = None
    wanted = form.offer_number()
    if wanted is not None:
        offer = database.get(Offer, wanted) if wanted else None
        if offer is None or offer.case_id != case.id:
            # Another case's offer, or none at all: nothing about it is shown.
            return _result_page(case, 404, problem=_("This case has no such offer."))
    result = service.send_message(
        database,
        case,
        channel,
        actor=g.staff,
        moment=g.now,
        offer=offer,
        schedule=form.scheduled(),
    )
    return _sent_or_refused(case, channel, offer, result)


def _sent_or_refused(
    case: Case, channel: Channel, offer: Offer | None, result: service.SendResult
) -> Response:
    """The message's page once one is stored, else why not and from when."""
    if result.message_id is not None:
        return redirect(url_for("agent.message", message_id=result.message_id), code=303)
    decision = result.decision
    return _result_page(
        case,
        422,
        channel=channel.value,
        offer=offer,
        problem=str(PROBLEM_TEXT[result.problem.value]) if result.problem else None,
        reasons=refusal_reasons(decision) if decision else [],
        allowed_from=_allowed_from(decision, case) if decision else None,
    )


@blueprint.get("/messages/<int:message_id>")
@staff_required("agent")
def message(message_id: int) -> Response:
    """One message: its state, when, to which (masked) address, and its words. Viewing
    it is recorded (it shows what the borrower owes)."""
    database = db.session()
    found = by_id(database, Message, message_id)
    if found is None:
        return _no_such_message(message_id)
    case = database.get_one(Case, found.case_id)
    trail.record_read(
        database, g.staff, "message.view", g.now, case_id=case.id, message_id=found.id
    )
    return _message_page(found, case, queries.message_words(found, case.loan.borrower))


@blueprint.post("/messages/<int:message_id>/reveal")
@staff_required("agent")
def reveal_message(message_id: int) -> Response:
    """One message with its words in full (the borrower's data and its link), in this
    response only; recorded each time (``message.reveal``)."""
    database = db.session()
    found = by_id(database, Message, message_id)
    if found is None:
        return _no_such_message(message_id)
    words = queries.reveal_message(database, g.staff, found, g.now)
    return _message_page(found, database.get_one(Case, found.case_id), words)


def _no_such_message(message_id: int) -> Response:
    return problem_page(
        _("No such message"),
        _("There is no message number %(number)s.", number=message_id),
        url_for("agent.outbox"),
        _("Back to the outbox"),
    )


def _message_page(message: Message, case: Case, words: queries.Words) -> Response:
    page = render_template(
        "agent/message.html",
        message=message,
        words=words,
        case=case,
        case_url=_case_url(case),
        zone=case.loan.borrower.timezone,
    )
    return make_response(page)


# Opt-outs ------------------------------------------------------------------------------------


@blueprint.post("/cases/<int:case_id>/opt-outs")
@staff_required("agent")
def record_opt_out(case_id: int) -> Response:
    """Record an opt-out the borrower said on the phone, or lift one with their consent."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = OptOutForm()
    if not form.validate():
        return _result_page(case, 422, problem=form.problem())
    channel = form.opted_channel()
    borrower_id = case.loan.borrower_id
    if form.lifting():
        service.lift(database, borrower_id, channel, g.now, actor=g.staff, case_id=case.id)
    else:
        service.opt_out(
            database, borrower_id, channel, g.now, source="agent", actor=g.staff, case_id=case.id
        )
    return redirect(_case_url(case), code=303)


# The outbox ----------------------------------------------------------------------------------


@blueprint.get("/outbox")
@staff_required("agent")
def outbox() -> Response:
    """Recent messages, newest first: status, channel, masked address, when; the words
    of messages kept in the outbox, masked (a demonstration reveals one, recorded, to
    open its link)."""
    database = db.session()
    form = OutboxForm(request.args)
    status, channel = form.status.data, form.channel.data
    found = queries.outbox_page(database, status, form.page.data, OUTBOX_PAGE, channel)
    page, pages = found.span.page, found.span.pages
    trail.record_read(
        database,
        g.staff,
        "outbox.view",
        g.now,
        status=status or None,
        channel=channel or None,
        page=page,
        shown=len(found.messages),
    )
    # The words masked as the case page masks the borrower; revealed one message at a
    # time, recorded, from its own page.
    words = {
        message.id: queries.message_words(message, found.cases[message.case_id].loan.borrower)
        for message in found.messages
    }
    page_html = render_template(
        "agent/outbox.html",
        active="agent.outbox",
        messages=found.messages,
        words=words,
        cases=found.cases,
        status=status,
        channel=channel,
        channels=queries.OUTBOX_CHANNELS,
        page=page,
        pages=pages,
        total=found.span.total,
    )
    return make_response(page_html)


# Bulk ----------------------------------------------------------------------------------------

# The queue's filter fields a segment is chosen by (its sorting and paging do not apply).
SEGMENT_KEYS = ("stage", "dpd", "min", "max", "currency", "plan", "hold", "contact", "q")


def _segment(args: Any) -> tuple[case_queue.QueueFilter, list[Any], dict[str, str]]:
    chosen, problems = case_queue.parse_filter(args)
    arguments = {k: v for k, v in chosen.to_args().items() if k in SEGMENT_KEYS}
    return chosen, problems, arguments


def _segment_ids(database: Session, chosen: case_queue.QueueFilter) -> list[int]:
    return queries.segment_case_ids(database, chosen, g.now)


def _bulk_page(status: int = 200, **context: Any) -> Response:
    choices = {
        "STAGES": case_queue.STAGES,
        "DPD_BANDS": case_queue.DPD_BANDS,
        "CURRENCIES": case_queue.CURRENCIES,
        "PLAN_STATUSES": case_queue.PLAN_STATUSES,
        "HOLDS": case_queue.HOLDS,
        "LAST_CONTACTS": case_queue.LAST_CONTACTS,
    }
    page = render_template(
        "agent/bulk.html",
        active="agent.bulk",
        lender_zone=case_queue.console_zone().key,
        amount_basis=case_queue.amount_basis(context.get("filter") or case_queue.QueueFilter()),
        **choices,
        **context,
    )
    return make_response(page, status)


@blueprint.get("/bulk")
@staff_required("agent")
def bulk() -> Response:
    """Choose a segment with the queue's filters and a channel; with ``preview=1``, see
    how many would be sent now, scheduled, or refused and why. Changes nothing."""
    database = db.session()
    chosen, problems, arguments = _segment(request.args)
    form = BulkPreviewForm(request.args)
    channel = form.chosen_channel()
    summary = None
    if form.previewing():
        if not form.validate():
            problems.extend(form.channel.errors)
        elif channel is not None:
            summary = service.preview_bulk(database, _segment_ids(database, chosen), channel, g.now)
    return _bulk_page(
        filter=chosen,
        arguments=arguments,
        channel=channel.value if channel else "",
        problems=problems,
        summary=summary,
    )


@blueprint.post("/bulk")
@staff_required("agent")
def queue_bulk() -> Response:
    """Queue a reminder for every case of the segment (worked out again now, not taken
    from the preview): due ones go at once, the others at their first allowed moment."""
    database = db.session()
    chosen, problems, arguments = _segment(request.form)
    form = BulkSendForm()
    channel = form.chosen_channel() if form.validate() else None
    if channel is None or problems:
        problems.extend(form.channel.errors)
        return _bulk_page(
            422, filter=chosen, arguments=arguments, channel="", problems=problems, summary=None
        )
    batch = service.queue_bulk(
        database,
        _segment_ids(database, chosen),
        channel,
        actor=g.staff,
        moment=g.now,
        segment=arguments,
    )
    if batch.queued:
        # The ones due now go once this answer is sent (or on the job queue); the
        # scheduled sender takes the rest at their times.
        jobs.enqueue(service.dispatch_batch_job, batch.id)
    return redirect(url_for("agent.bulk_batch", batch_id=batch.id), code=303)


@blueprint.get("/bulk/<int:batch_id>")
@staff_required("agent")
def bulk_batch(batch_id: int) -> Response:
    """One bulk send: what was queued, scheduled and refused, and where its messages
    stand now."""
    database = db.session()
    batch = by_id(database, MessageBatch, batch_id)
    if batch is None:
        return problem_page(
            _("No such bulk send"),
            _("There is no bulk send number %(number)s.", number=batch_id),
            url_for("agent.bulk"),
            _("Back to bulk reminders"),
        )
    progress = queries.batch_progress(database, batch, g.now, BATCH_SHOWN)
    # It lists cases and messages: reading it is a staff action like the outbox's.
    trail.record_read(
        database, g.staff, "bulk.view", g.now, batch_id=batch.id, shown=len(progress.messages)
    )
    page = render_template(
        "agent/bulk_batch.html",
        active="agent.bulk",
        batch=batch,
        statuses=progress.statuses,
        due_waiting=progress.due_waiting,
        messages=progress.messages,
        cases=progress.cases,
    )
    return make_response(page)
