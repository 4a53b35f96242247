"""Papers the borrower can keep: a payment's receipt, a plan's agreement and its dates as
a calendar file, and a statement of the loan on any day. Each view checks the session's
case, calls one service of ``portal.letters.papers`` and sends the file; a payment or
plan that is not this case's own is a 404 that says nothing of it."""

from __future__ import annotations

from typing import Any

from flask import abort, g, make_response, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from portal.core import db
from portal.core.i18n import long_date, zoned_time
from portal.letters import papers
from portal.letters.plan_calendar import calendar_for
from portal.models import Case, PlanStatus
from portal.web.borrower import session as borrower_session
from portal.web.borrower.session import borrower_required
from portal.web.borrower.views import blueprint
from portal.web.common.forms import DayField, GetForm, optional
from portal.web.common.fragments import respond

# How many of the latest payments the borrower's pages offer a receipt for.
RECEIPTS_LISTED = 3

REFUSALS = {
    papers.StatementRefusal.BEFORE_LOAN: _l(
        "Choose a day on or after %(date)s, when your loan began."
    ),
    papers.StatementRefusal.FUTURE: _l(
        "Choose today or a day before: a statement shows what has already happened."
    ),
}


class StatementDayForm(GetForm):
    """The day a statement is for: today when left empty."""

    on = DayField(
        _l("Statement date"),
        unreadable=_l("Enter a date like 2026-12-05."),
        any_year=True,
        padded=True,
        validators=[optional()],
    )


def _locale() -> str:
    return str(get_locale())


def _download(data: bytes, filename: str, mimetype: str) -> Response:
    response = make_response(data)
    response.headers["Content-Type"] = mimetype
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Personal papers: never kept by a shared cache or the browser's.
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/papers/receipt/<int:payment_id>.pdf")
@borrower_required
def receipt(payment_id: int) -> Response:
    """The receipt of one of this case's payments that went through."""
    paper = papers.receipt_for(db.session(), g.case, payment_id, _locale(), g.now)
    if paper is None:
        abort(404)
    return _download(papers.paper_pdf(paper), paper.filename, "application/pdf")


@blueprint.get("/papers/plan/<int:plan_id>/agreement.pdf")
@borrower_required
def plan_agreement(plan_id: int) -> Response:
    """The agreement of one of this case's accepted plans."""
    paper = papers.agreement_for(db.session(), g.case, plan_id, _locale(), g.now)
    if paper is None:
        abort(404)
    return _download(papers.paper_pdf(paper), paper.filename, "application/pdf")


@blueprint.get("/papers/plan/<int:plan_id>/calendar.ics")
@borrower_required
def plan_calendar(plan_id: int) -> Response:
    """The plan's payment dates as a calendar file, one event per installment."""
    found = calendar_for(db.session(), g.case, plan_id, _locale(), g.now)
    if found is None:
        abort(404)
    return _download(found.data, found.filename, "text/calendar; charset=utf-8")


@blueprint.get("/papers/statement")
@borrower_required
def statement() -> Response:
    """A statement of the loan at the end of the day asked (today by default); a day
    before the loan or after today is refused in words, with the form again."""
    case: Case = g.case
    form = StatementDayForm(request.args)
    today = papers.statement_today(case, g.now)
    if not form.validate():
        return _statement_problem(case, form)
    on = form.on.data or today
    refusal = papers.statement_refusal(case, on, today)
    if refusal is not None:
        form.on.errors = [str(REFUSALS[refusal]) % {"date": long_date(case.loan.start_date)}]
        return _statement_problem(case, form)
    paper = papers.statement_for(db.session(), case, on, _locale(), g.now)
    return _download(papers.paper_pdf(paper), paper.filename, "application/pdf")


def _statement_problem(case: Case, form: StatementDayForm) -> Response:
    return respond(
        render_template(
            "borrower/statement_day.html",
            form=form,
            first=case.loan.start_date,
            today=papers.statement_today(case, g.now),
        ),
        422,
    )


@blueprint.context_processor
def paper_links() -> dict[str, Any]:
    """``papers_offered()`` for the borrower's pages: what there is to download."""
    return {"papers_offered": _offered, "zoned_time": zoned_time}


def _offered() -> dict[str, Any]:
    case = borrower_session.case()
    database = db.session()
    plan = papers.latest_agreed_plan(database, case)
    return {
        "payments": papers.succeeded_payments(database, case, RECEIPTS_LISTED),
        "plan": plan,
        "calendar": plan is not None
        and plan.status in (PlanStatus.PENDING, PlanStatus.ACTIVE)
        and bool(plan.installments),
        "first": case.loan.start_date,
        "today": papers.statement_today(case, g.now),
        "form": StatementDayForm(formdata=None),
        "currency": case.loan.currency,
        "zone": case.loan.borrower.timezone,
    }
