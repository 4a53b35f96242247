"""Partner agencies' commission in the finance console: the agencies and their monthly
statements (a page, a CSV and a PDF, each read recorded in the audit log), booking what
the ledger moved since the daily work last did, and the agencies side by side for
supervisors (``portal.agencies.statements``). Imported at the bottom of ``views``, on
its blueprint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import (
    Response,
    g,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_percent, get_locale
from flask_babel import gettext as _

from portal.agencies import commission, statements
from portal.audit import trail
from portal.core import db
from portal.core.i18n import DEFAULT, lender, money, zoned_time
from portal.finance.reports import finance_timezone
from portal.web.common.clock import finance_today
from portal.web.common.pages import problem_page
from portal.web.finance.commission_forms import BookCommissionForm, StatementMonthForm
from portal.web.finance.views import EXCEL_UTF8, blueprint
from portal.web.staff.auth import staff_required, staff_required_any
from portal.wording.finance import COMMISSION_CAUSES
from portal.wording.results import percent


@blueprint.context_processor
def commission_words() -> dict[str, Any]:
    """The statement's words for movements, and how a rate is written."""
    return {"CAUSE_NAMES": COMMISSION_CAUSES, "rate_text": _rate, "share_text": percent}


def _rate(rate: Decimal) -> str:
    """A commission rate as a percentage, to two decimals when it has them (13.33%)."""
    return str(format_percent(rate, "#,##0.##%"))


def _month_form() -> StatementMonthForm:
    form = StatementMonthForm(formdata=request.args)
    if not form.month.data:
        form.month.data = finance_today().isoformat()[:7]
    return form


def _found(agency_id: int) -> statements.Statement | Response:
    """The agency's statement for the month asked for; a 404 or a 400 page otherwise."""
    form = _month_form()
    if not form.validate():
        return problem_page(
            _("Not a month"),
            " ".join(str(e) for e in form.month.errors),
            url_for("finance.commission_statements"),
            _("Back to the agencies' commission"),
            400,
        )
    found = statements.statement(db.session(), agency_id, form.first_day(), finance_timezone())
    if found is None:
        return problem_page(
            _("No such agency"),
            _("There is no agency with this number."),
            url_for("finance.commission_statements"),
            _("Back to the agencies' commission"),
        )
    return found


def _when(moment: datetime) -> str:
    return zoned_time(moment, finance_timezone().key)


@blueprint.get("/commission")
@staff_required("finance")
def commission_statements() -> str:
    """The agencies, each with its statement for the month chosen (this month unless
    asked), and the button that books what the ledger moved since the last booking."""
    form = _month_form()
    if not form.validate():
        form.month.data = finance_today().isoformat()[:7]
    return render_template(
        "finance/commission.html",
        agencies=statements.agencies(db.session()),
        form=form,
        book_form=BookCommissionForm(),
    )


@blueprint.post("/commission/book")
@staff_required("finance")
def book_commission() -> ResponseReturnValue:
    """Book every payment and refund on a placed case not yet booked (the daily work
    does the same), recorded in the audit log."""
    form = BookCommissionForm()
    if not form.validate():
        return redirect(url_for("finance.commission_statements"))
    added = commission.book(db.session(), g.now)
    trail.record_read(db.session(), g.staff, "finance.commission.book", g.now, added=added)
    return redirect(url_for("finance.commission_statements", booked=added))


@blueprint.get("/commission/<int:agency_id>")
@staff_required("finance")
def commission_statement(agency_id: int) -> Response:
    """An agency's month: each payment and refund, case masked, commission, totals."""
    found = _found(agency_id)
    if isinstance(found, Response):
        return found
    page = render_template("finance/commission_statement.html", statement=found, when=_when)
    trail.record_read(
        db.session(),
        g.staff,
        "finance.commission.view",
        g.now,
        agency_id=agency_id,
        month=found.month.isoformat()[:7],
    )
    return make_response(page)


@blueprint.get("/commission/<int:agency_id>/statement.csv")
@staff_required("finance")
def commission_csv(agency_id: int) -> Response:
    """The statement as CSV, recorded in the audit log before it starts."""
    found = _found(agency_id)
    if isinstance(found, Response):
        return found
    month = found.month.isoformat()[:7]
    trail.record_read(
        db.session(),
        g.staff,
        "finance.commission.export",
        g.now,
        agency_id=agency_id,
        month=month,
        format="csv",
    )

    def lines() -> Iterator[str]:
        yield EXCEL_UTF8
        yield from statements.csv_text(found, money)

    response = Response(stream_with_context(lines()), mimetype="text/csv")
    name = f"commission-{found.agency_code}-{month}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.get("/commission/<int:agency_id>/statement.pdf")
@staff_required("finance")
def commission_pdf(agency_id: int) -> Response:
    """The statement as a PDF in the console's language, recorded in the audit log."""
    found = _found(agency_id)
    if isinstance(found, Response):
        return found
    locale = str(get_locale() or DEFAULT)
    pdf = statements.pdf_bytes(
        found,
        locale,
        money,
        _when,
        {k: str(v) for k, v in COMMISSION_CAUSES.items()},
        lender(locale).name,
    )
    month = found.month.isoformat()[:7]
    trail.record_read(
        db.session(),
        g.staff,
        "finance.commission.export",
        g.now,
        agency_id=agency_id,
        month=month,
        format="pdf",
    )
    response = Response(pdf, mimetype="application/pdf")
    name = f"commission-{found.agency_code}-{month}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.get("/agencies")
@staff_required_any("supervisor", "finance", "admin")
def agencies_compared() -> Response:
    """The agencies side by side: liquidation, commission, disputes, refusals."""
    figures = statements.comparison(db.session())
    page = render_template("finance/agencies.html", figures=figures)
    trail.record_read(db.session(), g.staff, "agencies.compare", g.now)
    return make_response(page)
