"""The borrower's pages. Each view parses, checks the session's case, calls one
service, and renders or redirects; with ``HX-Request`` only the fragment is returned."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from negotiation import (
    Frequency,
    LoanSnapshot,
    PlanKind,
    Statement,
    assess,
    plan_timeline,
    propose,
)
from negotiation.contact import Channel, ContactRefusal, NarrowingProblem, QuietWindow
from negotiation.rules import regular_per_period
from portal.access.verification import (
    Attempt,
    FactKind,
    LinkState,
    SessionFacts,
    Verdict,
    find_link,
    verify,
)
from portal.arrangements import statements
from portal.arrangements.agreement import (
    Choice,
    ConsentRecord,
    Refusal,
    accept,
    borrowers_offer,
    cancel_pending,
    shown_hash,
    work_out,
)
from portal.arrangements.moves import (
    check_move,
    move_choices,
    move_installment,
    moved_installment,
    plan_refusal,
)
from portal.cases import evidence, overdue
from portal.cases.borrower_loans import LoanLine, loans_of
from portal.cases.facts import (
    live_plan,
    plan_events_of,
    policy,
    snapshot_of,
    view_case,
)
from portal.cases.fingerprint import fingerprint
from portal.cases.holds import dispute_status, place_hold
from portal.contact.call_requests import (
    CallbackRefusedError,
    CallSlots,
    borrowers_callback,
    callback_slots,
    request_callback,
    withdraw_callback,
)
from portal.contact.gate import borrower_rules
from portal.contact.preferences import (
    ContactChoice,
    NarrowingError,
    clock,
    current_choice,
    save_choice,
)
from portal.core import db
from portal.core.clock import as_utc, now
from portal.core.db import MAX_ID
from portal.core.hashing import is_ambiguous_date, normalise_date_of_birth, normalise_id_last4
from portal.core.i18n import long_date, money, speak_to, switching_language, zone_name, zoned_time
from portal.legal.queries import borrower_costs
from portal.messaging.chat import accounts_of as chat_accounts_of
from portal.models import Case, DisputeReason, Payment, Plan, PlanStatus
from portal.payments.autopay import enroll, live_autopay
from portal.payments.service import least_part_payment, open_payment, payment_for_case
from portal.reporting.funnel import OPTIONS_SEEN, PLAN_REVIEWED, device_class, reached
from portal.visits import service as visits
from portal.web.borrower import session as borrower_session
from portal.web.borrower.forms import (
    DAY_SETS,
    AcceptForm,
    CallbackForm,
    ConfirmForm,
    ContactChoiceForm,
    CustomPlanForm,
    HelpForm,
    MoveForm,
    PartPaymentForm,
    StatementForm,
    VerifyForm,
    days_code,
    minute_of,
)
from portal.web.borrower.session import borrower_facts_required, borrower_required
from portal.web.common.clock import borrower_today
from portal.web.common.evidence import evidence_folder
from portal.web.common.forms import in_currency
from portal.web.common.fragments import respond, wants_fragment
from portal.web.common.page_cache import cached_page, per_request, register_mark, session_values
from portal.web.payments import autopay_views
from portal.web.security import allow_body, csrf, csrf_exempt
from portal.wording.autopay import brand_name
from portal.wording.cases import PLAN_STATUS_NAMES
from portal.wording.engine import (
    FREQUENCY_NAMES,
    KIND_EXPLANATIONS,
    KIND_NAMES,
    PERIOD_NAMES,
    PLAN_MOVE_REFUSALS,
    STAGE_EXPLANATIONS,
    STAGE_NAMES,
    event_sentence,
    move_range,
    move_refusal_sentence,
    plan_event_sentence,
    rejection_sentence,
)
from portal.wording.legal import COST_NAMES as LEGAL_COST_NAMES

blueprint = Blueprint("borrower", __name__)


def review_url(
    kind: PlanKind,
    installments: int,
    frequency: Frequency,
    first_due_date: date,
    down_payment: int | None = None,
    offer_id: int | None = None,
) -> str:
    """The review page of one choice (amounts are recomputed there, never carried)."""
    params: dict[str, Any] = {
        "kind": kind.value,
        "installments": installments,
        "frequency": frequency.value,
        "first_due_date": first_due_date.isoformat(),
    }
    if down_payment is not None:
        params["down_payment"] = down_payment
    if offer_id is not None:
        params["offer_id"] = offer_id
    return url_for("borrower.review", **params)


def schedule_review_url(schedule: Any, offer_id: int | None = None) -> str:
    """The review page of a proposal or an offer, by its kind and shape."""
    return review_url(
        schedule.kind,
        len(schedule.installments),
        schedule.frequency,
        schedule.first_due_date,
        offer_id=offer_id,
    )


@blueprint.context_processor
def wording() -> dict[str, Any]:
    """The translated names of the engine's enums, for every borrower template."""
    return {
        "PAY_IN_FULL": PlanKind.PAY_IN_FULL,
        "MONTHLY": Frequency.MONTHLY,
        "review_url": review_url,
        "schedule_review_url": schedule_review_url,
        "STAGE_NAMES": STAGE_NAMES,
        "STAGE_EXPLANATIONS": STAGE_EXPLANATIONS,
        "PLAN_STATUS_NAMES": PLAN_STATUS_NAMES,
        "KIND_NAMES": KIND_NAMES,
        "KIND_EXPLANATIONS": KIND_EXPLANATIONS,
        "FREQUENCY_NAMES": FREQUENCY_NAMES,
        "PERIOD_NAMES": PERIOD_NAMES,
        "event_sentence": event_sentence,
        "plan_event_sentence": plan_event_sentence,
        "rejection_sentence": rejection_sentence,
        "move_range": move_range,
        "brand_name": brand_name,
    }


@blueprint.app_context_processor
def session_clock() -> dict[str, Any]:
    """How long the borrower's session lasts, for the warning in _signout.html: app-wide,
    as the checkout pages of the payments blueprint show it too."""
    return {"session_seconds_left": lambda: per_request("session_seconds")}


register_mark("session_seconds", lambda: borrower_session.seconds_left(g.get("now") or now()))


def _kept(render: Callable[[], str], *shown: Hashable) -> str:
    """The page ``render`` makes for this request, from the page cache while nothing it
    shows has changed (``portal.web.common.page_cache`` says what the key holds; ``shown``:
    what else the page shows beyond the case's watched rows)."""
    facts: SessionFacts = g.session_facts
    key = (
        request.endpoint,
        request.full_path,
        wants_fragment(),
        facts.case_id,
        fingerprint(db.session(), facts.case_id, facts.loan_id, facts.borrower_id),
        *shown,
        str(get_locale()),
        overdue.borrower_today(facts.timezone, g.now),
        # The CSRF token is filled in per response.
        session_values(),
    )
    return cached_page(key, g.now, render)


def _page(
    template: str, fragment: str | None = None, status: int = 200, **context: Any
) -> Response:
    """The full page, or only its fragment for an htmx request (one URL, two forms)."""
    name = fragment if (fragment and wants_fragment()) else template
    if request.method == "POST":
        # Every borrower view that renders on a POST treats a language re-post as a
        # redisplay, so the page's language switch may post its fields again.
        g.language_repost = True
    return respond(render_template(name, **context), status)


# Link and verification ---------------------------------------------------------------


@blueprint.get("/r/<token>")
def open_link(token: str) -> Response:
    """A reminder link: the verification form. Changes nothing (link scanners prefetch)."""
    state, link = find_link(db.session(), token, now())
    if state is not LinkState.USABLE or link is None:
        return _link_problem(state)
    _speak_as_borrower(link)
    return _page("borrower/verify.html", form=VerifyForm(), token=token)


def _speak_as_borrower(link: Any) -> None:
    """The reminder was sent in the borrower's language; its page answers in it too."""
    speak_to(link.case.loan.borrower.locale, link.case.loan.currency)


@blueprint.post("/r/<token>")
def verify_link(token: str) -> Response:
    """Check the borrower's answer; on success, a fresh session and the status page."""
    database, moment = db.session(), now()
    state, link = find_link(database, token, moment)
    if state is not LinkState.USABLE or link is None:
        return _link_problem(state)
    _speak_as_borrower(link)
    form = VerifyForm()
    if not form.validate_on_submit():
        return _page("borrower/verify.html", form=form, token=token, status=422)
    if switching_language():  # the same form again; the answer is not checked again
        return _page("borrower/verify.html", form=form, token=token)
    attempt = Attempt(
        FactKind(form.method.data),
        form.answer.data or "",
        request.remote_addr or "",
        device_class(request.user_agent.string).value,
    )
    verdict = verify(database, link, attempt, moment)
    if verdict is Verdict.VERIFIED:
        borrower_session.begin(link, moment)
        target = "borrower.plans" if link.offer_id else "borrower.status"
        back = borrower_session.kept_destination(link)
        return redirect(back or url_for(target), code=303)
    if verdict is Verdict.LINK_DISABLED:
        return _link_problem(LinkState.DISABLED)
    remaining = max(0, 5 - link.failed_attempts)
    return _page(
        "borrower/verify.html",
        form=form,
        token=token,
        verdict=verdict.value,
        remaining=remaining,
        other_method=_other_method(attempt) if verdict is Verdict.UNREADABLE else None,
        status=422,
    )


def _other_method(attempt: Attempt) -> str | None:
    """When an unreadable answer fits the other question, or is a date that reads two
    ways in the borrower's market (03/04/1980), say so."""
    if attempt.kind is FactKind.DATE_OF_BIRTH and is_ambiguous_date(attempt.answer):
        return "ambiguous_date"
    if attempt.kind is FactKind.DATE_OF_BIRTH and normalise_id_last4(attempt.answer):
        return "id_last4"
    if attempt.kind is FactKind.ID_LAST4 and normalise_date_of_birth(attempt.answer):
        return "date_of_birth"
    return None


def _link_problem(state: LinkState) -> Response:
    status = 404 if state is LinkState.UNKNOWN else 410
    return _page("borrower/link_problem.html", state=state.value, status=status)


@blueprint.get("/session-ended")
def session_ended() -> Response:
    """A calm page for an ended session: open your link again."""
    return _page("borrower/session_ended.html")


@blueprint.post("/sign-out")
def sign_out() -> Response:
    """End the borrower's session, on the server too."""
    borrower_session.sign_out(db.session())
    return redirect(url_for("borrower.session_ended", signed_out=1), code=303)


# Status ------------------------------------------------------------------------------


@blueprint.get("/status")
@borrower_facts_required
def status() -> Response:
    """What is owed, itemised; the stage in plain words; what happens next and when; and
    the borrower's other loans, when they have more than one."""
    loans = _loans()
    return respond(
        _kept(
            lambda: render_template("borrower/status.html", **_status(borrower_session.case())),
            tuple(loans),
        )
    )


def _loans() -> list[LoanLine]:
    """The borrower's loans for the list on their pages: none for a borrower with one
    loan (nothing is read then: the session's facts count the loans)."""
    facts: SessionFacts = g.session_facts
    if facts.loan_count < 2:
        return []
    if "borrower_loans" not in g:
        found = loans_of(db.session(), facts.borrower_id, facts.case_id, g.now)
        # Loans paid off are left out: one open loan and one resolved make no list.
        g.borrower_loans = found if len(found) > 1 else []
    listed: list[LoanLine] = g.borrower_loans
    return listed


def _status_page(
    case: Case,
    move_form: MoveForm | None = None,
    problem: str | None = None,
    status: int = 200,
    evidence_problem: str | None = None,
) -> Response:
    context = _status(case, move_form, problem, evidence_problem)
    return _page("borrower/status.html", status=status, **context)


def _status(
    case: Case,
    move_form: MoveForm | None = None,
    problem: str | None = None,
    evidence_problem: str | None = None,
) -> dict[str, Any]:
    """What the status page shows."""
    view = view_case(db.session(), case, borrower_today(case))
    plan_events: tuple[Any, ...] = ()
    progress = None
    if view.plan is not None:
        plan_events = plan_events_of(
            db.session(), case, view.plan, borrower_today(case), view.snapshot
        )
        progress = _progress(case, view.plan, borrower_today(case))
    return {
        "view": view,
        "loans": _loans(),
        "plan_events": plan_events,
        "progress": progress,
        "autopay": (
            autopay_views.status_section(case, view.plan, borrower_today(case))
            if view.plan is not None
            else None
        ),
        "move": _move_section(case, view.plan, move_form, problem),
        "dispute": dispute_status(db.session(), case, g.now),
        "visit": visits.upcoming(db.session(), case, g.now),
        "callback_at": _callback_at(case),
        "legal_costs": borrower_costs(db.session(), case),
        "legal_cost_names": LEGAL_COST_NAMES,
        "evidence_problem": EVIDENCE_PROBLEMS.get(evidence_problem or ""),
        "evidence_limits": {
            "size": evidence.MAX_BYTES // (1024 * 1024),
            "count": evidence.MAX_FILES,
        },
    }


def _callback_at(case: Case) -> str | None:
    """When the call the borrower asked for is due, on their clock; None without one."""
    callback = borrowers_callback(db.session(), case)
    if callback is None:
        return None
    return zoned_time(callback.due_at, case.loan.borrower.timezone, seconds=False)


EVIDENCE_PROBLEMS = {
    "no_dispute": _l("There is no open dispute to add this to."),
    "too_many": _l("You have sent as many files as we can take for one dispute."),
    "too_large": _l("This file is too large."),
    "empty": _l("Choose a file to send."),
    "wrong_type": _l("Send a photo (JPEG or PNG) or a PDF."),
}


@blueprint.post("/status/evidence")
@csrf_exempt
@borrower_required
def add_evidence() -> Response:
    """A photo or PDF for the borrower's open dispute (one file a request, its size
    checked before the body is read; the CSRF token checked once it may be)."""
    allow_body(evidence.MAX_BYTES + 64 * 1024)
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    sent = request.files.get("evidence")
    data = b""
    if sent is not None:
        # Read at most one byte past the limit, then let the spooled file go at once.
        with sent.stream:
            data = sent.stream.read(evidence.MAX_BYTES + 1)
    try:
        evidence.add(
            db.session(),
            g.case,
            (sent.filename if sent else None) or "",
            data,
            g.now,
            evidence_folder(),
        )
    except evidence.EvidenceError as error:
        return _status_page(g.case, status=422, evidence_problem=error.code)
    return redirect(url_for("borrower.status", _anchor="dispute-title"), code=303)


MOVE_CHOICES = 3


def _move_section(
    case: Case, plan: Any, form: MoveForm | None, problem: str | None
) -> dict[str, Any] | None:
    """The "a few more days" section of an active plan: the form with each payment's
    dates, or the move already made; None when there is nothing to say."""
    active = plan is not None and plan.status == PlanStatus.ACTIVE
    # The next few payments are the ones a borrower needs days for; a later one can be
    # moved once it comes near, so a phone shows a short list rather than the whole plan.
    choices = move_choices(plan, borrower_today(case))[:MOVE_CHOICES] if active else []
    done = moved_installment(plan) if active else None
    if done is None and not choices and problem is None:
        if form is None or not form.errors:
            return None
        # A form posted where none is offered (a plan not active, moves turned off): say
        # why in the plan's terms rather than leave its field errors unseen.
        problem = move_refusal_sentence(plan_refusal(plan, borrower_today(case)), None)
    form = form or MoveForm()
    form.installment.choices = [
        SelectChoice(
            str(row.id),
            _(
                "%(amount)s due %(date)s",
                date=long_date(row.due_date),
                amount=money(row.outstanding, case.loan.currency),
            ),
        )
        for row, _window in choices
    ]
    if form.installment.data is None and choices:
        form.installment.data = str(choices[0][0].id)
    # The date picker allows exactly the chosen payment's window (each option carries
    # its own for the script that follows the choice): the dates the rule accepts.
    chosen = next(
        (window for row, window in choices if str(row.id) == form.installment.data),
        choices[0][1] if choices else None,
    )
    return {
        "form": form,
        "choices": choices,
        "done": done,
        "problem": problem,
        "days": policy().max_installment_move_days,
        "window": chosen,
    }


@blueprint.post("/plan/move")
@borrower_required
def move_payment() -> Response:
    """Move one upcoming payment of the active plan to a later date, once; then back to
    the status page, which states the new date. Refusals re-show the form, with why."""
    case: Case = g.case
    form = MoveForm()
    if not form.validate_on_submit():
        return _status_page(case, form, status=422)
    try:
        installment_id = _bounded(form.installment.data, 1, MAX_ID)
    except ValueError:
        installment_id = None
    assert form.new_date.data is not None  # InputRequired  # noqa: S101
    # A language switch shows the same answer again, judged but not made.
    attempt = check_move if switching_language() else move_installment
    result = attempt(db.session(), case, installment_id, form.new_date.data, borrower_today(case))
    if result.refusal is not None:
        sentence = move_refusal_sentence(result.refusal, result.window)
        if result.refusal in PLAN_MOVE_REFUSALS:
            return _status_page(case, form, problem=sentence, status=409)
        field = form.new_date if result.window is not None else form.installment
        field.errors = [sentence]
        return _status_page(case, form, status=422)
    if switching_language():
        return _status_page(case, form)
    return redirect(url_for("borrower.status", _anchor="move-title"), code=303)


def _progress(case: Case, plan: Any, today: date) -> dict[str, Any]:
    """How far through its plan the borrower is, what the plan covers, and what is due
    next in all: the plan's next payment and, beside a plan of the arrears only, the
    loan's next regular installment (a plan of the whole balance replaces them)."""
    unpaid = [i for i in plan.installments if i.outstanding > 0]
    following = plan.next_due
    whole_balance = PlanKind(plan.kind).covers_whole_balance
    regular = None
    if not whole_balance:
        regular = next(
            (i for i in case.loan.installments if i.due_date >= today and i.unpaid > 0), None
        )
    due_next = (following.outstanding if following else 0) + (regular.unpaid if regular else 0)
    rows = [
        {"plan": True, "due_date": i.due_date, "amount": i.outstanding, "moved_from": i.moved_from}
        for i in (following,)
        if i is not None
    ] + [
        {"plan": False, "due_date": i.due_date, "amount": i.unpaid, "moved_from": None}
        for i in (regular,)
        if i is not None
    ]
    return {
        "paid": len(plan.installments) - len(unpaid),
        "count": len(plan.installments),
        "next": following,
        "next_amount": following.outstanding if following else 0,
        "left": plan.outstanding,
        "covered": plan.restructured,
        "whole_balance": whole_balance,
        "regular": regular,
        "due_next": due_next,
        "due_rows": sorted(rows, key=lambda row: row["due_date"]),
    }


# Negotiate ---------------------------------------------------------------------------


def _statement() -> Statement | None:
    """The statement this session typed, kept on the server: the cookie holds only its
    key (``portal.arrangements.statements``)."""
    key, link_id = session.get("statement_key"), session.get("link_id")
    if not isinstance(key, str) or not isinstance(link_id, int):
        return None
    return statements.load(db.session(), link_id, key, g.now)


@blueprint.route("/plans", methods=["GET", "POST"])
@borrower_required
def plans() -> Response:
    """The options: an agent's offer first, plan cards, a calculator, and the optional
    income-and-expenditure form."""
    case: Case = g.case
    today = borrower_today(case)
    form = StatementForm(meta=in_currency(case.loan.currency))
    if request.method == "POST":
        if "skip" in request.form:
            key = session.pop("statement_key", None)
            if isinstance(key, str):
                statements.forget(db.session(), key)
        elif form.validate_on_submit() and not switching_language():
            typed = Statement(
                **{field.name: getattr(form, field.name).data or 0 for field in fields(Statement)}
            )
            old = session.get("statement_key")
            session["statement_key"] = statements.save(
                db.session(),
                session["link_id"],
                typed,
                g.now,
                old if isinstance(old, str) else None,
            )
            return redirect(url_for("borrower.plans") + "#options", code=303)
        else:
            return _plans_page(case, today, form, status=422 if form.errors else 200)
    elif _statement() is not None:
        form = StatementForm(
            data=_statement_as_major(_statement()), meta=in_currency(case.loan.currency)
        )
    return _plans_page(case, today, form)


def _statement_as_major(statement: Statement | None) -> dict[str, Any]:
    if statement is None:
        return {}
    return dict(statement.__dict__)


def _reached(case: Case, step: str) -> None:
    """Note a funnel step once per borrower session (``portal.reporting.funnel``): the
    step and the device class, nothing else."""
    seen = session.get("funnel_steps")
    seen = seen if isinstance(seen, list) else []
    if step in seen:
        return
    reached(db.session(), case, step, device_class(request.user_agent.string), g.now)
    session["funnel_steps"] = [*seen, step]


def _plans_page(case: Case, today: date, form: StatementForm, status: int = 200) -> Response:
    _reached(case, OPTIONS_SEEN)
    database = db.session()
    snapshot = snapshot_of(database, case, today)
    statement = _statement()
    proposals = propose(snapshot, policy(), today, statement)
    featured, more = _featured(proposals, snapshot.frequency)
    assessment = assess(statement, policy(), snapshot.currency) if statement else None
    offer = _offer_choice(case, today)
    calculator = _calculator(
        case, snapshot, request.args if request.args.get("kind") else None, proposals
    )
    return _page(
        "borrower/plans.html",
        status=status,
        snapshot=snapshot,
        proposals=featured,
        more_proposals=more,
        statement_form=form,
        assessment=assessment,
        offer=offer,
        calculator=calculator,
        plan=live_plan(database, case),
        stage=policy().stage_for(snapshot.days_past_due),
        on_hold=case.hold is not None,
        nothing_fits=assessment is not None and not any(p.affordable for p in proposals),
    )


def _featured(proposals: tuple[Any, ...], usual: Frequency) -> tuple[list[Any], list[Any]]:
    """The best of each kind (at the frequency the borrower already pays, when there is
    one) and every labelled plan first; the variations after, so a phone shows a handful
    of cards rather than every term at every frequency."""
    best: dict[PlanKind, Any] = {}
    for proposal in proposals:
        kind = proposal.plan.kind
        familiar = len(proposal.plan.installments) == 1 or proposal.plan.frequency is usual
        if kind not in best or (familiar and best[kind].plan.frequency is not usual):
            best[kind] = proposal
    chosen = {id(p) for p in best.values()} | {id(p) for p in proposals if p.labels}
    featured = [p for p in proposals if id(p) in chosen]
    return featured, [p for p in proposals if id(p) not in chosen]


def _offer_choice(case: Case, today: date) -> dict[str, Any] | None:
    offer_id = session.get("offer_id")
    if not offer_id:
        return None
    offer = borrowers_offer(db.session(), case, offer_id, g.now, _link_offer())
    if offer is None:
        return None
    worked = work_out(db.session(), case, today, Choice(PlanKind.PAY_IN_FULL, offer_id=offer.id))
    if not worked.allowed:
        return None
    return {"offer": offer, "schedule": worked.schedule, "expires": offer.expires_at}


def _calculator(
    case: Case, snapshot: LoanSnapshot, args: Any, proposals: tuple[Any, ...] = ()
) -> dict[str, Any]:
    """The custom plan calculator on the case's ``snapshot`` (built once a request): its
    form, and the schedule or refusal it works out to. Untouched, it starts on a plan the
    policy allows: the engine's own proposal of the first kind it offers (a fixed count
    such as 6 payments is refused for small arrears)."""
    today = snapshot.as_of
    rules = policy().rules_for(policy().stage_for(snapshot.days_past_due))
    kinds = [
        k
        for k in (PlanKind.ARREARS_PLAN, PlanKind.RESTRUCTURE, PlanKind.DEFERRAL)
        if rules and k in rules.plan_kinds
    ]
    form = CustomPlanForm(formdata=args, meta=in_currency(case.loan.currency, csrf=False))
    form.kind.choices = [SelectChoice(k.value, str(KIND_NAMES[k])) for k in kinds]
    frequencies = rules.frequencies if rules else (Frequency.MONTHLY,)
    form.frequency.choices = [
        SelectChoice(f.value, str(FREQUENCY_NAMES[f.value])) for f in frequencies
    ]
    if args is None:
        form.first_due_date.data = today
        if kinds:
            form.kind.data = kinds[0].value
        form.frequency.data = frequencies[0].value
        # The first kind proposed, at the frequency the borrower already pays if it is.
        offered = [p.plan for k in kinds for p in proposals if p.plan.kind is k]
        first = [plan for plan in offered if plan.kind is offered[0].kind] if offered else []
        start = next((plan for plan in first if plan.frequency is snapshot.frequency), None)
        start = start or (first[0] if first else None)
        if start is not None:
            form.kind.data = start.kind.value
            form.installments.data = len(start.installments)
            form.frequency.data = start.frequency.value
            form.first_due_date.data = start.first_due_date
        return {"form": form, "worked": None, "choice": None, "available": bool(kinds)}
    if not form.validate():
        return {"form": form, "worked": None, "choice": None, "available": bool(kinds)}
    choice = Choice(
        kind=PlanKind(form.kind.data),
        installments=form.installments.data or 0,
        frequency=Frequency(form.frequency.data),
        first_due_date=form.first_due_date.data,
        down_payment=form.down_payment.data,
    )
    worked = work_out(db.session(), case, today, choice, _statement(), snapshot=snapshot)
    return {"form": form, "worked": worked, "choice": choice, "available": bool(kinds)}


@blueprint.get("/plans/calculate")
@borrower_facts_required
def calculate() -> Response:
    """The calculator's result: a fragment for htmx, or the whole options page."""
    if not wants_fragment():
        case = borrower_session.case()
        today = borrower_today(case)
        return _plans_page(case, today, StatementForm(meta=in_currency(case.loan.currency)))
    return respond(_kept(_calculator_fragment))


def _calculator_fragment() -> str:
    case = borrower_session.case()
    today = borrower_today(case)
    snapshot = snapshot_of(db.session(), case, today)
    calculator = _calculator(case, snapshot, request.args)
    # The language links, swapped out of band, carry the calculator's values: a switch
    # after typing shows the same plan (the whole page of this URL).
    return render_template(
        "borrower/_calculator.html", calculator=calculator, snapshot=snapshot
    ) + render_template("_languages.html", oob=True)


# Review and accept -------------------------------------------------------------------


MAX_AMOUNT = 10**15
CHOICE_HORIZON = timedelta(days=366)


def _bounded(text: Any, low: int, high: int) -> int | None:
    """A whole number from a form or query value, within [low, high]; else None."""
    if text is None or text == "":
        return None
    value = int(str(text), 10)  # raises ValueError for anything but digits
    if not low <= value <= high:
        raise ValueError("out of range")
    return value


def _choice_from(values: Any, today: date) -> Choice | None:
    """A choice from query or form values; None when anything is malformed or absurd
    (an id beyond 64 bits, a date more than a year away, an amount beyond reason)."""
    if not values.get("kind"):
        return None
    try:
        first = values.get("first_due_date") or None
        first_date = date.fromisoformat(first) if first else None
        if first_date is not None and abs(first_date - today) > CHOICE_HORIZON:
            return None
        return Choice(
            kind=PlanKind(values.get("kind") or "pay_in_full"),
            installments=_bounded(values.get("installments"), 1, 600) or 1,
            frequency=Frequency(values.get("frequency") or "monthly"),
            first_due_date=first_date,
            down_payment=_bounded(values.get("down_payment"), 0, MAX_AMOUNT),
            offer_id=_bounded(values.get("offer_id"), 1, MAX_ID),
        )
    except (TypeError, ValueError):
        return None


def _calculator_url(choice: Choice) -> str:
    calculable = choice.kind.is_installment_plan or choice.kind is PlanKind.DEFERRAL
    if choice.offer_id is not None or not calculable:
        return url_for("borrower.plans")
    params: dict[str, Any] = {
        "kind": choice.kind.value,
        "installments": choice.installments,
        "frequency": choice.frequency.value,
    }
    if choice.first_due_date is not None:
        params["first_due_date"] = choice.first_due_date.isoformat()
    if choice.down_payment is not None:
        params["down_payment"] = choice.down_payment
    return url_for("borrower.calculate", **params) + "#calc-title"


@blueprint.get("/plans/review")
@borrower_required
def review() -> Response:
    """The whole plan, its consequences and its terms, and the consent to it."""
    case: Case = g.case
    choice = _own_choice(case, request.args)
    if choice is None:
        return redirect(url_for("borrower.plans"), code=303)
    return _review_page(case, choice)


def _link_offer() -> int | None:
    """The offer the link of this session carries, if any."""
    offer_id = session.get("offer_id")
    return offer_id if isinstance(offer_id, int) else None


def _own_choice(case: Case, values: Any) -> Choice | None:
    """The choice in ``values``; None when malformed. An offer that is not this case's
    own usable offer, or one that never reached the borrower (by this session's link or
    a message sent to them), is a 404: a guessed offer id gets nothing."""
    choice = _choice_from(values, borrower_today(case))
    offer_id = choice.offer_id if choice is not None else None
    if offer_id is not None and (
        borrowers_offer(db.session(), case, offer_id, g.now, _link_offer()) is None
    ):
        abort(404)
    return choice


def _review_page(
    case: Case,
    choice: Choice,
    form: AcceptForm | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    today = borrower_today(case)
    worked = work_out(db.session(), case, today, choice, _statement())
    if not worked.allowed or worked.schedule is None:
        # Show why, in the calculator, rather than dropping the borrower's choice.
        return redirect(_calculator_url(choice), code=303)
    _reached(case, PLAN_REVIEWED)
    locale = str(get_locale())
    form = form or AcceptForm()
    form.kind.data = choice.kind.value
    form.installments.data = str(choice.installments)
    form.frequency.data = choice.frequency.value
    form.first_due_date.data = choice.first_due_date.isoformat() if choice.first_due_date else ""
    form.down_payment.data = "" if choice.down_payment is None else str(choice.down_payment)
    form.offer_id.data = "" if choice.offer_id is None else str(choice.offer_id)
    form.shown.data = shown_hash(worked.schedule, worked.conditional_waiver, locale)
    snapshot = snapshot_of(db.session(), case, today)
    events = plan_timeline(
        snapshot, policy(), worked.schedule, today, conditional_waiver=worked.conditional_waiver
    )
    alongside = regular_per_period(snapshot, worked.schedule.kind, worked.schedule.frequency)
    return _page(
        "borrower/review.html",
        status=status,
        alongside=alongside,
        together=worked.schedule.typical_installment + alongside,
        schedule=worked.schedule,
        worked=worked,
        events=events,
        form=form,
        notice=notice,
        currency=case.loan.currency,
        policy=policy(),
        # The first installment is paid by hand now; automatic payments take the rest.
        mandate=autopay_views.mandate(
            case, [(row.due_date, row.amount) for row in worked.schedule.installments[1:]]
        ),
    )


@blueprint.post("/plans/accept")
@borrower_required
def accept_plan() -> Response:
    """Record the consent, once; then on to payment."""
    case: Case = g.case
    form = AcceptForm()
    choice = _own_choice(case, request.form)
    if choice is None:
        return redirect(url_for("borrower.plans"), code=303)
    if not form.validate_on_submit():
        return _review_page(case, choice, form=form, status=422)
    if switching_language():  # the same plan, consent still ticked; nothing recorded
        return _review_page(case, choice, form=form)
    consent = ConsentRecord(
        ip_address=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        locale=str(get_locale()),
        shown=form.shown.data or "",
    )
    result = accept(
        db.session(),
        case,
        g.now,
        borrower_today(case),
        choice,
        consent,
        _statement(),
        link_offer_id=_link_offer(),
    )
    if result.refusal is Refusal.TERMS_CHANGED:
        notice = _("The figures changed since the page was shown. Please review them again.")
        return _review_page(case, choice, notice=notice, status=409)
    if result.plan is None:
        return redirect(url_for("borrower.plans"), code=303)
    if form.autopay.data and len(result.plan.installments) > 1:
        # The mandate as the review page showed it: the payments after the first.
        rows = [(row.due_date, row.amount) for row in result.plan.installments[1:]]
        shown = autopay_views.mandate_text(autopay_views.mandate(case, rows))
        enroll(db.session(), case, autopay_views.consent(shown), g.now)
    # The first installment is paid by hand as always; the card is added after it.
    return redirect(url_for("borrower.pay"), code=303)


@blueprint.post("/plans/withdraw")
@borrower_required
def withdraw() -> Response:
    """Withdraw an accepted plan before its first payment, to choose another."""
    form = ConfirmForm()
    if form.validate_on_submit():
        cancel_pending(db.session(), g.case, g.now)
    return redirect(url_for("borrower.plans"), code=303)


# Pay ---------------------------------------------------------------------------------


@blueprint.get("/pay")
@borrower_required
def pay() -> Response:
    """What to pay now: the plan's next installment, or the arrears, or a part of them."""
    case: Case = g.case
    database = db.session()
    plan = live_plan(database, case)
    snapshot = snapshot_of(database, case, borrower_today(case))
    due = plan.next_due if plan else None
    return _page(
        "borrower/pay.html",
        plan=plan,
        due=due,
        snapshot=snapshot,
        form=ConfirmForm(),
        part_form=PartPaymentForm(meta=in_currency(case.loan.currency)),
        currency=case.loan.currency,
        least=least_part_payment(snapshot),
    )


@blueprint.post("/pay")
@borrower_required
def start_payment() -> Response:
    """Start (or resume) the payment of what is due; never a second charge for it."""
    case: Case = g.case
    database = db.session()
    purpose = request.form.get("purpose", "installment")
    part = PartPaymentForm(meta=in_currency(case.loan.currency))
    amount = None
    if switching_language():
        part.validate_on_submit()
        return _pay_with_errors(case, part, status=422 if part.errors else 200)
    if purpose == "partial":
        if part.validate_on_submit() and not part.amount.data:
            part.amount.errors = [_("Enter an amount greater than zero.")]
        if part.errors or not part.amount.data:
            return _pay_with_errors(case, part)
        amount = part.amount.data
    elif not ConfirmForm().validate_on_submit():
        abort(400)
    result = open_payment(
        database,
        case,
        purpose,
        amount,
        borrower_today(case),
        g.now,
    )
    if result.error:
        part.amount.errors = [result.error]
        return _pay_with_errors(case, part)
    return redirect(result.redirect_url, code=303)


def _pay_with_errors(case: Case, part: PartPaymentForm, status: int = 422) -> Response:
    database = db.session()
    plan = live_plan(database, case)
    due = plan.next_due if plan else None
    snapshot = snapshot_of(database, case, borrower_today(case))
    return _page(
        "borrower/pay.html",
        status=status,
        plan=plan,
        due=due,
        snapshot=snapshot,
        form=ConfirmForm(),
        part_form=part,
        currency=case.loan.currency,
        least=least_part_payment(snapshot),
    )


@blueprint.get("/pay/result/<int:payment_id>")
@borrower_required
def payment_result(payment_id: int) -> Response:
    """The payment's true state, read from our records (never from the return URL)."""
    payment: Payment | None = payment_for_case(db.session(), g.case, payment_id)
    if payment is None and borrower_session.follow_payment(payment_id=payment_id):
        payment = payment_for_case(db.session(), g.case, payment_id)
    if payment is None:
        abort(404)
    database = db.session()
    plan = live_plan(database, g.case)
    paid_plan = database.get(Plan, payment.plan_id) if payment.plan_id is not None else None
    return _page(
        "borrower/payment_result.html",
        payment=payment,
        plan=plan,
        # What the receipt says follows what the payment did: a plan of installments
        # completed, everything overdue paid (paying in full, or a part payment that
        # reached the last of it), or a part credited.
        plan_kind=paid_plan.kind if paid_plan is not None else None,
        overdue_left=snapshot_of(database, g.case, borrower_today(g.case)).arrears.total,
        form=ConfirmForm(),
        currency=g.case.loan.currency,
        received_on=_local_date(payment.confirmed_at, g.case.loan.borrower.timezone),
        # A mandate agreed at acceptance waits for its card: offered once this is paid.
        autopay=live_autopay(database, plan.id) if plan is not None else None,
    )


def _local_date(moment: datetime | None, timezone: str) -> date | None:
    """The day a stored UTC moment fell on where the borrower lives."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(timezone)).date()


# Help --------------------------------------------------------------------------------


@blueprint.route("/help", methods=["GET", "POST"])
@borrower_required
def help_page() -> Response:
    """I can't pay right now, or I dispute this debt: the case goes on hold."""
    case: Case = g.case
    form = HelpForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _page("borrower/help.html", form=form, status=422)
        if switching_language():
            return _page("borrower/help.html", form=form)
        reason = form.reason.data or "hardship"
        place_hold(
            db.session(),
            case,
            reason,
            form.details.data or "",
            g.now,
            DisputeReason(form.dispute_reason.data) if reason == "dispute" else None,
        )
        return redirect(url_for("borrower.help_done"), code=303)
    # What they wrote when their last session ended, back in the form to check and send.
    kept = borrower_session.restore_form(case.id, "borrower.help_page")
    if kept is not None:
        return _page("borrower/help.html", form=HelpForm(formdata=kept), restored=True)
    return _page("borrower/help.html", form=form)


@blueprint.post("/session/extend")
@borrower_required
def extend_session() -> Response:
    """ "Stay signed in": this request itself renews the session; how long it now lasts."""
    return jsonify(seconds=borrower_session.seconds_left(g.now))


@blueprint.get("/help/done")
@borrower_required
def help_done() -> Response:
    """A calm confirmation of what happens next (only once the case is on hold)."""
    if g.case.hold is None:
        return redirect(url_for("borrower.help_page"), code=303)
    return _page("borrower/help_done.html", hold=g.case.hold)


# How we contact you -----------------------------------------------------------------

NARROWING_PROBLEMS = {
    NarrowingProblem.NO_CHANNEL: _l("Keep at least one way for us to reach you about your loan."),
    NarrowingProblem.TOO_MANY_WINDOWS: _l("Choose at most three times."),
    NarrowingProblem.NO_TIME_LEFT: _l(
        "These times leave no time at all when we may call or message you. To stop calls, "
        "SMS or email, untick them above instead."
    ),
}


def _choice_form(case: Case) -> ContactChoiceForm:
    """The form filled with what the borrower has chosen so far."""
    chosen = current_choice(db.session(), case.loan.borrower_id)
    form = ContactChoiceForm(channels=sorted(channel.value for channel in chosen.channels))
    for (days, start, end), window in zip(form.rows(), chosen.quiet, strict=False):
        days.data = days_code(window.days) or ""
        start.data, end.data = clock(window.start), clock(window.end)
    return form


def _contact_page(case: Case, form: ContactChoiceForm, status: int = 200, **extra: Any) -> Response:
    borrower = case.loan.borrower
    rules = borrower_rules(borrower, case.loan.currency)
    return _page(
        "borrower/contact.html",
        form=form,
        status=status,
        hours=(rules.allowed_from.strftime("%H:%M"), rules.allowed_until.strftime("%H:%M")),
        zone=zone_name(borrower.timezone),
        chat_accounts=chat_accounts_of(db.session(), borrower.id),
        **extra,
    )


@blueprint.route("/contact", methods=["GET", "POST"])
@borrower_required
def contact_choices() -> Response:
    """The channels we may use and the times not to contact the borrower."""
    case: Case = g.case
    if request.method == "GET":
        return _contact_page(case, _choice_form(case), saved=request.args.get("saved") == "1")
    form = ContactChoiceForm()
    if not form.validate_on_submit():
        return _contact_page(case, form, status=422)
    if switching_language():
        return _contact_page(case, form)
    choice = ContactChoice(
        channels=frozenset(Channel(value) for value in form.channels.data or ()),
        quiet=tuple(
            QuietWindow(DAY_SETS[days.data][1], minute_of(start.data), minute_of(end.data))
            for days, start, end in form.rows()
            if days.data
        ),
    )
    try:
        save_choice(db.session(), case, choice, g.now)
    except NarrowingError as error:
        return _contact_page(case, form, status=422, problem=NARROWING_PROBLEMS[error.problem])
    return redirect(url_for("borrower.contact_choices", saved=1), code=303)


# Ask us to call you ------------------------------------------------------------------

# Why no time can be offered, in the borrower's words.
NO_CALL_REASONS = {
    ContactRefusal.OPTED_OUT: _l("You asked us not to call you."),
    ContactRefusal.ON_HOLD: _l(
        "Your case is on hold, so we make no collection calls until it has been reviewed."
    ),
    ContactRefusal.BORROWER_HOURS: _l("The times you asked us not to contact you cover them."),
    ContactRefusal.QUIET_HOURS: _l("They fall outside the hours we may call where you live."),
    ContactRefusal.HOLIDAY_BLACKOUT: _l("We make no calls on public holidays where you live."),
    ContactRefusal.CONNECTED_CALLS_PER_DAY: _l(
        "We have already spoken to you as often as the rules allow for now."
    ),
    ContactRefusal.CALL_ATTEMPTS_PER_7_DAYS: _l(
        "We have already called you as often as the rules allow for now."
    ),
    ContactRefusal.RECENT_CONVERSATION: _l(
        "We spoke to you recently, and where you live we may not call again so soon."
    ),
    ContactRefusal.VALIDATION_NOTICE_PENDING: _l(
        "Where you live, we first send you a notice about the debt by email; we may call "
        "you after it."
    ),
}


def _slot_value(slot: datetime) -> str:
    return as_utc(slot).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _slot_choices(slots: CallSlots) -> dict[str, list[tuple[str, str]]]:
    """The times offered, grouped under their day, as the request's language writes them."""
    locale = str(get_locale())
    return {
        format_date(first.date(), "full", locale=locale): [
            (_slot_value(slot), format_time(slot, "short", locale=locale)) for slot in times
        ]
        for first, times in slots.by_day()
    }


def _callback_page(case: Case, form: CallbackForm, slots: CallSlots, status: int = 200) -> Response:
    form.slot.choices = _slot_choices(slots)
    return _page(
        "borrower/callback.html",
        form=form,
        slots=slots,
        reasons=[NO_CALL_REASONS.get(reason) for reason in slots.reasons],
        opted_out=ContactRefusal.OPTED_OUT in slots.reasons,
        zone=zone_name(case.loan.borrower.timezone),
        status=status,
    )


@blueprint.route("/callback", methods=["GET", "POST"])
@borrower_required
def ask_callback() -> Response:
    """Pick a time in the next 7 days at which we may call; a time no longer open when
    sent is refused (422) with the list as it now is."""
    case: Case = g.case
    slots = callback_slots(db.session(), case, g.now)
    form = CallbackForm()
    if request.method == "GET":
        return _callback_page(case, form, slots)
    if not form.validate_on_submit():
        return _callback_page(case, form, slots, status=422)
    if switching_language():
        return _callback_page(case, form, slots)
    chosen = {_slot_value(slot): slot for slot in slots.slots}.get(form.slot.data or "")
    if chosen is None:
        form.slot.errors = [_("That time is no longer open. Choose another.")]
        return _callback_page(case, form, slots, status=422)
    try:
        request_callback(db.session(), case, chosen, g.now)
    except CallbackRefusedError:
        form.slot.errors = [_("That time is no longer open. Choose another.")]
        return _callback_page(case, form, callback_slots(db.session(), case, g.now), status=422)
    return redirect(url_for("borrower.status", _anchor="callback-title"), code=303)


@blueprint.post("/callback/cancel")
@borrower_required
def cancel_callback() -> Response:
    """Withdraw the call the borrower asked for (nothing happens when there is none)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    withdraw_callback(db.session(), g.case, g.now)
    return redirect(url_for("borrower.status", _anchor="callback-title"), code=303)


# The papers to keep (receipts, agreements, calendar, statements) and the move between the
# borrower's loans are routes of this blueprint, in modules of their own.
import portal.web.borrower.loan_views  # noqa: E402
import portal.web.borrower.paper_views  # noqa: E402, F401
