"""The finance console at ``/finance``, for staff with the ``finance`` role: a day's
money, payments (filtered, searched, exported), kept money per day, and reconciliation
runs against Stripe. Views parse, call one service function, and render."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_datetime
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
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.audit import trail
from portal.core import db
from portal.core.clock import as_utc
from portal.core.currency import minor_per_major
from portal.core.db import by_id
from portal.core.i18n import DEFAULT, long_date, money
from portal.finance import reconcile as reconciliation
from portal.finance import reports
from portal.finance.closing import PeriodClosedError
from portal.finance.export import payment_lines
from portal.finance.plan_keeping import plan_keeping
from portal.models import ReconciliationItem, ReconciliationRun
from portal.payments.stripe_gateway import StripeSettings
from portal.web.common.clock import finance_today
from portal.web.common.pages import problem_page
from portal.web.finance.chart import bar_chart
from portal.web.finance.forms import (
    CURRENCIES,
    ChartForm,
    DayForm,
    PaymentFilterForm,
    PeriodForm,
    ReconcileForm,
)
from portal.web.staff.auth import staff_blueprint, staff_required
from portal.wording.finance import (
    ALLOCATION_TARGETS,
    FORGIVEN_KINDS,
    GATEWAYS,
    ITEM_KINDS,
    PAYMENT_EVENTS,
    PURPOSES,
    RUN_STATUSES,
    SHOWN_PAYMENT_STATUSES,
    run_error_sentence,
)
from portal.wording.results import interval, percent, points

blueprint = staff_blueprint("finance", __name__, url_prefix="/finance")
# How the plan-kept report writes its rates.
RESULT_WORDS = {"percent": percent, "points": points, "interval": interval}
CHART_DAYS = 30
RUNS_SHOWN = 100
# A UTF-8 byte order mark: without it Excel reads a CSV of Chinese names as mojibake.
EXCEL_UTF8 = "\ufeff"


@blueprint.context_processor
def wording() -> dict[str, Any]:
    """The console's words for stored codes, and its time format, in every template."""
    return {
        "STATUS_NAMES": SHOWN_PAYMENT_STATUSES,
        "GATEWAY_NAMES": GATEWAYS,
        "PURPOSE_NAMES": PURPOSES,
        "TARGET_NAMES": ALLOCATION_TARGETS,
        "TARGETS": reports.ALLOCATION_TARGETS,
        "FORGIVEN_NAMES": FORGIVEN_KINDS,
        "FORGIVEN": reports.FORGIVEN_KINDS,
        "EVENT_NAMES": PAYMENT_EVENTS,
        "RUN_STATUS_NAMES": RUN_STATUSES,
        "ITEM_KIND_NAMES": ITEM_KINDS,
        "UNMATCHED_KINDS": reconciliation.UNMATCHED_KINDS,
        "note_text": reconciliation.note_text,
        "run_error": run_error_sentence,
        "needs_stripe": needs_stripe,
        "local_time": local_time,
        "run_period": run_period,
    }


def local_time(moment: datetime | None) -> str:
    """A stored time in the finance timezone, as the page's language writes it."""
    if moment is None:
        return "—"
    local = as_utc(moment).astimezone(reports.finance_timezone())
    return format_datetime(local, "medium", locale=str(get_locale() or DEFAULT))


def needs_stripe() -> bool:
    """True when there is nothing to reconcile with (Stripe chosen but not set up; the
    sandbox reads its own books): the pages say so plainly instead of offering a run
    that cannot work."""
    return not reconciliation.available(StripeSettings.from_config())


def run_period(run: ReconciliationRun) -> str:
    """A run's days in the finance timezone, first to last (its end is exclusive)."""
    zone = reports.finance_timezone()
    first = reports.local_day(run.since, zone)
    last = reports.local_day(run.until - timedelta(microseconds=1), zone)
    if first == last:
        return long_date(first)
    return _("%(first)s to %(last)s", first=long_date(first), last=long_date(last))


def _problem(status: int, heading: str, message: str, back: str) -> Response:
    return problem_page(heading, message, url_for(back), _("Back"), status)


# The day's money ---------------------------------------------------------------------------


@blueprint.get("/")
@staff_required("finance")
def overview() -> Response:
    """Where every cent of a day's online repayments is (yesterday unless asked)."""
    form = DayForm(formdata=request.args)
    day = finance_today() - timedelta(days=1)
    if form.validate() and form.day.data:
        day = form.day.data
    if not form.day.data and not form.errors:
        form.day.data = day
    found = reports.day_overview(db.session(), day, reports.finance_timezone())
    status = 400 if form.errors else 200
    page = render_template(
        "finance/overview.html",
        form=form,
        view=found,
        today=finance_today(),
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1) if day < finance_today() else None,
    )
    return make_response(page, status)


# Payments ------------------------------------------------------------------------------------


@blueprint.get("/payments")
@staff_required("finance")
def payments() -> Response:
    """Payments, newest first, narrowed by the filters and the search."""
    form = PaymentFilterForm(formdata=request.args)
    if not form.validate():
        return make_response(render_template("finance/payments.html", form=form, page=None), 400)
    database = db.session()
    found = reports.payment_page(
        database, form.filters(), reports.finance_timezone(), form.page_number()
    )
    arguments = _filter_arguments(form)
    page = render_template(
        "finance/payments.html",
        form=form,
        page=found,
        csv_url=url_for("finance.payments_csv", **arguments),
        page_url=lambda number: url_for("finance.payments", **arguments, page=number),
    )
    # The list names borrowers and their loans: seeing it is recorded, as an agent's
    # case view is, once the page is read.
    trail.record_read(
        database, g.staff, "finance.payments.view", g.now, filters=arguments, page=found.page
    )
    return make_response(page)


def _filter_arguments(form: PaymentFilterForm) -> dict[str, Any]:  # Any: url_for's **values
    """The filters as typed, for links: only the form's own fields, so a query naming
    url_for's own arguments (``_method``, ``_scheme``) is never passed on to it."""
    fields = {field.name for field in form if field.name != "page"}
    return {k: v for k, v in request.args.items() if k in fields and v}


@blueprint.get("/payments.csv")
@staff_required("finance")
def payments_csv() -> ResponseReturnValue:
    """The filtered payments as CSV, streamed; bad filters go back to the list to be
    explained there."""
    form = PaymentFilterForm(formdata=request.args)
    if not form.validate():
        return redirect(url_for("finance.payments", **_filter_arguments(form)), code=303)
    filters, zone = form.filters(), reports.finance_timezone()
    # Recorded before the export starts (it holds names and loan numbers).
    trail.record_read(
        db.session(), g.staff, "finance.payments.export", g.now, filters=_filter_arguments(form)
    )

    def lines() -> Any:
        yield EXCEL_UTF8
        # The session is taken here, inside the streaming context, so that context's
        # teardown closes it; one taken in the view would be closed before the rows are
        # read, and reopen a connection nobody returns.
        yield from payment_lines(reports.all_payments(db.session(), filters, zone), money)

    response = Response(stream_with_context(lines()), mimetype="text/csv")
    name = f"payments-{finance_today().isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.get("/payments/<int:payment_id>")
@staff_required("finance")
def payment(payment_id: int) -> Response:
    """One payment: whose, its allocations, and what happened to it."""
    story = reports.payment_story(db.session(), payment_id)
    if story is None:
        return _problem(
            404,
            _("No such payment"),
            _("There is no payment number %(number)s.", number=payment_id),
            "finance.payments",
        )
    page = render_template("finance/payment.html", story=story)
    trail.record_read(
        db.session(),
        g.staff,
        "finance.payment.view",
        g.now,
        case_id=story.case.id,
        payment_id=story.payment.id,
    )
    return make_response(page)


# Collections chart ---------------------------------------------------------------------------


@blueprint.get("/collections")
@staff_required("finance")
def collections() -> Response:
    """Kept money per day for the last 30 days, in one currency: a chart and its table."""
    database = db.session()
    form = ChartForm(formdata=request.args)
    valid = form.validate()
    # The lender's own currency first, then the others it is paid in.
    found = set(reports.payment_currencies(database))
    currencies = [c for c in CURRENCIES if c in found] + sorted(found - set(CURRENCIES))
    currencies = currencies or [CURRENCIES[0]]
    currency = (valid and form.currency.data) or currencies[0]
    last_day = (valid and form.until.data) or finance_today()
    form.currency.data = currency
    if valid:
        form.until.data = last_day
    days = reports.daily_kept(database, currency, last_day, CHART_DAYS, reports.finance_timezone())
    # One whole currency unit: the axis is labelled in round amounts.
    geometry = bar_chart([d.kept for d in days], unit=minor_per_major(currency))
    page = render_template(
        "finance/collections.html",
        form=form,
        currency=currency,
        currencies=currencies,
        days=days,
        chart=geometry,
        total=sum(d.kept for d in days),
    )
    return make_response(page, 200 if valid else 400)


# Plans kept, with and without autopay ---------------------------------------------------------

# The report's period by default: the last quarter, up to today.
KEPT_DAYS = 90


@blueprint.get("/plans-kept")
@staff_required("finance")
def plans_kept() -> Response:
    """The plan-kept rate of the plans accepted in a period, with and without autopay
    (``portal.finance.plan_keeping``): counts only, no borrower named."""
    form = PeriodForm(formdata=request.args)
    valid = form.validate()
    last = (valid and form.until.data) or finance_today()
    first = (valid and form.since.data) or last - timedelta(days=KEPT_DAYS - 1)
    if first > last:
        first = last
    if valid:
        form.since.data, form.until.data = first, last
    found = plan_keeping(db.session(), first, last, reports.finance_timezone())
    page = render_template("finance/plans_kept.html", form=form, report=found, **RESULT_WORDS)
    return make_response(page, 200 if valid else 400)


# Reconciliation ------------------------------------------------------------------------------


def _runs_page(form: ReconcileForm, status: int = 200, closed_month: str | None = None) -> Response:
    runs = reports.recent_runs(db.session(), RUNS_SHOWN)
    page = render_template("finance/runs.html", form=form, runs=runs, closed_month=closed_month)
    return make_response(page, status)


@blueprint.get("/reconciliations")
@staff_required("finance")
def runs() -> Response:
    """The reconciliation runs, latest first, and the form that starts one: for
    yesterday, or the days a link asks for (the month-close page's, for its month)."""
    yesterday = finance_today() - timedelta(days=1)
    asked = PeriodForm(formdata=request.args)
    since = (asked.validate() and asked.since.data) or yesterday
    until = (asked.validate() and asked.until.data) or since
    return _runs_page(ReconcileForm(since=since, until=max(since, until)))


@blueprint.post("/reconciliations")
@staff_required("finance")
def start_run() -> ResponseReturnValue:
    """Compare Stripe with our payments for whole days; then show the run."""
    form = ReconcileForm()
    if not form.validate_on_submit():
        return _runs_page(form, 422)
    if needs_stripe():
        return _runs_page(form, 409)
    first, last = form.period()
    since, until = reports.day_bounds(first, last, reports.finance_timezone())
    try:
        run = reconciliation.reconcile(
            db.session(), StripeSettings.from_config(), since, until, g.staff, g.now
        )
    except PeriodClosedError as closed:
        return _runs_page(form, 409, closed_month=closed.month)
    return redirect(url_for("finance.run", run_id=run.id), code=303)


def _run_or_problem(run_id: int) -> ReconciliationRun | Response:
    run = by_id(db.session(), ReconciliationRun, run_id)
    if run is None:
        return _problem(
            404,
            _("No such reconciliation run"),
            _("There is no reconciliation run number %(number)s.", number=run_id),
            "finance.runs",
        )
    return run


@blueprint.get("/reconciliations/<int:run_id>")
@staff_required("finance")
def run(run_id: int) -> Response:
    """A run's totals and its lines, what needs a person first."""
    found = _run_or_problem(run_id)
    if isinstance(found, Response):
        return found
    order = list(ITEM_KINDS)
    items = sorted(found.items, key=lambda item: (_kind_rank(item, order), item.id))
    page = render_template(
        "finance/run.html", run=found, items=items, totals=reconciliation.totals(found)
    )
    trail.record_read(db.session(), g.staff, "reconcile.view", g.now, run_id=found.id)
    return make_response(page)


def _kind_rank(item: ReconciliationItem, order: list[str]) -> int:
    return order.index(item.kind) if item.kind in order else len(order)


@blueprint.get("/reconciliations/<int:run_id>.csv")
@staff_required("finance")
def run_csv(run_id: int) -> Response:
    """A run's lines as CSV."""
    found = _run_or_problem(run_id)
    if isinstance(found, Response):
        return found
    stream = io.StringIO()
    stream.write(EXCEL_UTF8)
    reconciliation.write_run_csv(found, stream)
    reconciliation.record_export(db.session(), g.staff, found, g.now)
    response = Response(stream.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="reconciliation-{found.id}.csv"'
    )
    return response


# The views of chargebacks, refunds, exceptions, the month's close, the journals and the
# payouts register on this blueprint (imported last: they import it).
import portal.web.finance.commission_views  # noqa: E402
import portal.web.finance.dispute_views  # noqa: E402
import portal.web.finance.exception_views  # noqa: E402
import portal.web.finance.journal_views  # noqa: E402
import portal.web.finance.payout_views  # noqa: E402
import portal.web.finance.refund_views  # noqa: E402, F401
