"""The audit log in the admin console: filtered, newest first, a page at a time, and the
same filters as a CSV export. Views parse, call ``portal.audit.search``, and render; each
look at the log is itself recorded."""

from __future__ import annotations

from datetime import datetime
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

from portal.audit import search as audit_log
from portal.audit import trail as audit_trail
from portal.core import db
from portal.core.clock import as_utc
from portal.core.i18n import DEFAULT, zone_name
from portal.finance.reports import finance_timezone
from portal.web.admin import blueprint
from portal.web.admin.forms import AuditFilterForm
from portal.web.common.clock import today_in
from portal.web.staff.auth import staff_required
from portal.wording.audit import action_label

# A UTF-8 byte order mark: without it Excel reads a CSV of Chinese names as mojibake.
EXCEL_UTF8 = "\ufeff"


def local_time(moment: datetime) -> str:
    """A stored time in the lender's timezone, as the page's language writes it."""
    local = as_utc(moment).astimezone(finance_timezone())
    return format_datetime(local, "medium", locale=str(get_locale() or DEFAULT))


@blueprint.context_processor
def helpers() -> dict[str, Any]:
    """The log's time format and details text, in every admin template."""
    return {
        "local_time": local_time,
        "details_text": audit_log.details_text,
        "action_label": action_label,
        "timezone_name": zone_name(str(finance_timezone())),
    }


def _form() -> AuditFilterForm:
    form = AuditFilterForm(formdata=request.args)
    form.offer_actions(audit_log.actions(db.session()))
    return form


# The query arguments the log's links carry on: its filters, nothing else (url_for
# reads some names itself, such as _method and _scheme).
FILTER_KEYS = ("actor", "action", "case", "since", "until")


def _filter_arguments() -> dict[str, Any]:  # Any: url_for's **values
    return {k: v for k, v in request.args.items() if k in FILTER_KEYS and v}


@blueprint.get("/audit")
@staff_required("admin")
def audit() -> Response:
    """Every staff action, newest first, narrowed by who, what, which case and when."""
    database = db.session()
    form = _form()
    if not form.validate():
        return make_response(render_template("admin/audit.html", form=form, page=None), 400)
    found = audit_log.audit_page(database, form.filters(), finance_timezone(), form.page_number())
    arguments = _filter_arguments()
    page = render_template(
        "admin/audit.html",
        form=form,
        page=found,
        csv_url=url_for("admin.audit_csv", **arguments),
        page_url=lambda number: url_for("admin.audit", **arguments, page=number),
    )
    # Looking at the log is a staff action too; recorded after reading, so the page
    # shows the log as it was when asked for.
    audit_trail.record_read(
        database, g.staff, "audit.view", g.now, filters=arguments, page=found.page
    )
    return make_response(page)


@blueprint.get("/audit.csv")
@staff_required("admin")
def audit_csv() -> ResponseReturnValue:
    """The filtered log as CSV, streamed; bad filters go back to the log to be explained
    there. The export is recorded before it starts."""
    form = _form()
    if not form.validate():
        shown: dict[str, Any] = {
            k: v for k, v in request.args.items() if k in (*FILTER_KEYS, "page", "lang")
        }
        return redirect(url_for("admin.audit", **shown), code=303)
    filters, zone = form.filters(), finance_timezone()
    database = db.session()
    audit_trail.record_read(database, g.staff, "audit.export", g.now, filters=_filter_arguments())

    def lines() -> Any:
        yield EXCEL_UTF8
        # The session is taken here, inside the streaming context, so that context's
        # teardown closes it (as the finance export does).
        yield from audit_log.audit_lines(audit_log.all_entries(db.session(), filters, zone), zone)

    response = Response(stream_with_context(lines()), mimetype="text/csv")
    name = f"audit-{today_in(zone).isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
