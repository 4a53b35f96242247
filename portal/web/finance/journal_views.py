"""The finance console's general-ledger journals: a month's journals exported as a
general-ledger CSV or a Beancount ledger (``portal.finance.journal_files``), each
download recorded in the audit log. Imported at the bottom of ``views``, on its
blueprint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from flask import Response, g, make_response, render_template, request, stream_with_context

from portal.audit import trail
from portal.core import db, settings
from portal.finance import journal_files, journals, reports
from portal.web.common.clock import finance_today
from portal.web.finance.forms import JournalForm
from portal.web.finance.views import EXCEL_UTF8, blueprint
from portal.web.staff.auth import staff_required
from portal.wording.finance import ACCOUNT_KINDS

MIMETYPES = {"csv": "text/csv", "beancount": "text/plain"}


def _page(form: JournalForm, status: int = 200) -> Response:
    chart = settings.current().chart_of_accounts
    page = render_template(
        "finance/journals.html",
        form=form,
        accounts=[(ACCOUNT_KINDS[kind.value], name) for kind, name in chart.default.items()],
    )
    return make_response(page, status)


@blueprint.get("/journals")
@staff_required("finance")
def journals_page() -> Response:
    """The export form (last month unless asked) and the chart of accounts in use."""
    form = JournalForm(formdata=request.args)
    if not form.month.data:
        last_month = finance_today().replace(day=1) - timedelta(days=1)
        form.month.data = last_month.isoformat()[:7]
    return _page(form)


@blueprint.get("/journals/export")
@staff_required("finance")
def journals_export() -> Response:
    """A month's journals as a download, recorded in the audit log before it starts;
    a month or format that is not one goes back to the page, explained."""
    form = JournalForm(formdata=request.args)
    if not form.validate():
        return _page(form, 400)
    first, last = journals.month_days(form.first_day())
    form_name = form.form.data or "csv"
    trail.record_read(
        db.session(),
        g.staff,
        "finance.journals.export",
        g.now,
        month=form.month.data,
        format=form_name,
    )
    zone = reports.finance_timezone()

    def lines() -> Iterator[str]:
        if form_name == "csv":
            yield EXCEL_UTF8
        # The session is taken inside the streaming context, whose teardown closes it.
        yield from journal_files.export(db.session(), first, last, form_name, zone)

    response = Response(stream_with_context(lines()), mimetype=MIMETYPES[form_name])
    name = f"journals-{form.month.data}.{form_name}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
