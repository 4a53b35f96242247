"""The portfolio page at ``/reports/portfolio``, "How the book is doing", for supervisors
and admins (and, for the money figures only, finance): how the book moved from one
month-end to the next over a period (the roll-rate matrix as a heat map with its table,
the cure rate, and roll-forward and roll-back per bucket), the liquidation curves of the
cohorts that entered arrears in the period, then over the same pairs' days the plans by
kind and first-payment channel (kept rate, discount and waiver, settlement rate), the
promises to pay, contact and the portal funnel, all from one service
(``portal.reporting.book.book_report``), for a slice of the book; the roll rates' table
and the liquidation cohort table as CSV, and every other table at
``/reports/portfolio/<name>.csv`` (``portal.web.reports.tables``); and, read apart at
``/reports/portfolio/agents`` for supervisors and admins, the agents' figures and
contacts per cure.

What a member reads is their audience's (``portal.reporting.book.audience_for``): finance
gets the roll rates, the liquidation curves and the plans' money, and the other sections
are neither computed nor shown, in the page and its htmx fragment alike; the page then
sits in the finance console.

One GET form: without JavaScript it reloads the page; with htmx only the results are
replaced (``reports/_portfolio_fragment.html``) and the address follows. Every view and
export is recorded in the audit log (the figures are the book's money).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from fractions import Fraction
from itertools import chain
from typing import Any

from flask import (
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue

from negotiation.liquidation import Cohort
from negotiation.portfolio import DESTINATIONS, OPEN_BUCKETS, Matrix
from portal.audit import trail
from portal.contact.gate import REFUSAL_TEXT
from portal.core import db
from portal.core.csv_export import csv_lines
from portal.core.i18n import money
from portal.finance.reports import finance_timezone
from portal.reporting import liquidation as recovery
from portal.reporting import portfolio as service
from portal.reporting.arrangements import CHANNELS as FIRST_PAYMENT_ORDER
from portal.reporting.arrangements import KINDS
from portal.reporting.book import (
    AGENTS,
    AUDIENCES,
    EVERYTHING,
    READERS,
    Audience,
    BookReport,
    agents_report,
    audience_for,
    book_report,
)
from portal.reporting.contact import CHANNELS as CONTACT_CHANNELS
from portal.reporting.contact import REASONS
from portal.reporting.funnel import DEVICES, STEPS, Funnel
from portal.web.common.fragments import respond, wants_fragment
from portal.web.reports import tables
from portal.web.reports.curves import SERIES, CurveChart, curve_chart
from portal.web.reports.figures import funnel_chart
from portal.web.reports.filters import (
    FIELD_LABELS,
    Chosen,
    choice_values,
    parse_choice,
)
from portal.web.reports.heatmap import HeatMap, heat_map, label_lines
from portal.web.reports.words import (
    BUCKET_NAMES,
    FIRST_PAYMENT_CHANNELS,
    FUNNEL_STEPS,
    PLAN_OUTCOMES,
    PROMISE_OUTCOMES,
    device_name,
    market_name,
    month_name,
    pair_name,
    per_case,
    percent,
    product_name,
    stage_name,
    whole,
)
from portal.web.staff.auth import staff_blueprint, staff_required_any
from portal.wording.cases import CHANNEL_NAMES as CONTACT_CHANNEL_NAMES
from portal.wording.cases import PLAN_KIND_NAMES

blueprint = staff_blueprint("reports", __name__, url_prefix="/reports")

# Supervisors read the book; admins too (they see every console's figures); finance its
# money figures (what each reads: ``portal.reporting.book.AUDIENCES``).
PAGE_ROLES = READERS
# Who sees every agent's figures: whoever reads their section (an agent sees their own at
# /reports/mine).
AGENTS_ROLES = tuple(role for role, audience in AUDIENCES if audience.sees(AGENTS))
# A UTF-8 byte order mark: without it Excel reads a CSV of Chinese names as mojibake.
EXCEL_UTF8 = "\ufeff"
# Shares in the CSV: a ratio to six decimals (0.250000 is a quarter).
CSV_COLUMNS = (
    "from_month_end",
    "to_month_end",
    "month_pairs",
    "from_bucket",
    "to_bucket",
    "cases",
    "cases_share",
    "currency",
    "amount_minor",
    "amount",
    "amount_share",
)


@dataclass(frozen=True)
class Asked:
    """What the query asked for (``chosen``), the problems with it, and what there was
    to choose from: the month-ends with history (ascending) and the slices' values."""

    chosen: Chosen
    problems: list[str]
    ends: list[date]
    choices: service.SliceChoices


def _read(audience: Audience) -> Asked:
    """The request's period and slice, checked against the history there is and the
    slices ``audience`` may choose (no owner or team for finance: asked for, they are
    left out with a sentence saying so)."""
    database = db.session()
    ends, choices = service.month_ends(database), service.slice_choices(database)
    if not audience.by_people:
        choices = replace(choices, owners=[], teams=[])
    chosen, problems = parse_choice(request.args, ends, choices)
    return Asked(chosen, problems, ends, choices)


def _own_arguments() -> dict[str, Any]:  # Any: url_for's **values
    """The query's own fields as typed (for the way back from the CSV to the page): only
    the form's, so a query naming url_for's own arguments (``_method``, ``_scheme``) is
    never passed on to it."""
    return {k: v for k, v in request.args.items() if k in FIELD_LABELS and v}


def _url(endpoint: str, chosen: Chosen) -> str:
    """The address of ``endpoint`` for ``chosen`` (``url_for`` takes keywords of its own
    besides the query's, so mypy wants the arguments as Any)."""
    arguments: dict[str, Any] = chosen.to_args()
    return url_for(endpoint, **arguments)


def _audience() -> Audience:
    """What the signed-in member reads of the report (the page's roles read something)."""
    return audience_for(g.staff.role_set) or EVERYTHING


def _report(chosen: Chosen, audience: Audience) -> BookReport | None:
    """The figures of the chosen period and slice that ``audience`` reads: the roll rates
    of its month pairs, the liquidation curves and the plans, and (for supervisors and
    admins) the promises, contact and funnel, over their days (finance time zone); not
    the agents' figures (``portfolio_agents``)."""
    if chosen.period is None:
        return None
    period = chosen.period
    return book_report(
        db.session(),
        period.first,
        period.last,
        chosen.slice,
        # The agents' section is read apart (``portfolio_agents``): seconds at a million.
        audience.sections - {AGENTS},
    )


@blueprint.get("/portfolio")
@staff_required_any(*PAGE_ROLES)
def portfolio() -> Response:
    """The figures of the chosen period and slice the member's audience reads (the roll
    rates first, then the liquidation curves, the plans, promises, contact and the portal
    funnel): the whole page, or for htmx the results alone."""
    audience = _audience()
    asked = _read(audience)
    chosen = asked.chosen
    report = _report(chosen, audience)
    found = report.roll_rates if report is not None else None
    fragment = wants_fragment()
    context = {
        "chosen": chosen,
        "problems": asked.problems,
        "found": found,
        "report": report,
        "audience": audience,
        # Finance reads it in its own console.
        "layout": "agent/_layout.html" if audience is EVERYTHING else "finance/_layout.html",
        "chart": _chart(found.matrix) if found is not None else None,
        **(_funnel(report.funnel) if report is not None and report.funnel is not None else {}),
        "liquidation_charts": (
            _curves(report.liquidation)
            if report is not None and report.liquidation is not None
            else {}
        ),
        "liquidation_csv_url": _url("reports.liquidation_csv", chosen),
        "zone": finance_timezone().key,
        "show_agents": audience.sees(AGENTS),
        "agents_url": _url("reports.portfolio_agents", chosen),
        "csv_url": _url("reports.portfolio_csv", chosen),
        "table_csv": _table_urls(chosen, tables.SECTION_TABLES),
        "active": "reports.portfolio",
        **WORDS,
    }
    if fragment:
        html = render_template("reports/_portfolio_fragment.html", **context)
    else:
        html = render_template(
            "reports/portfolio.html",
            choices=_choices(asked.choices),
            pairs=asked.ends,
            **context,
        )
    # What the page showed of the book's money, and to whom, once it is read.
    trail.record_read(
        db.session(), g.staff, "reports.portfolio.view", g.now, filters=chosen.to_args()
    )
    response = respond(html)
    if fragment:
        # The address bar shows the period and slice as the page understood them.
        response.headers["HX-Push-Url"] = _url("reports.portfolio", chosen)
    return response


@blueprint.get("/portfolio/agents")
@staff_required_any(*AGENTS_ROLES)
def portfolio_agents() -> Response:
    """The agents' table and contacts per cure of the chosen period and slice: read apart
    from the rest of the page (at a million cases they take seconds), which loads them
    in place with htmx when their link is followed; a page of their own without
    JavaScript."""
    asked = _read(EVERYTHING)
    chosen, period = asked.chosen, asked.chosen.period
    found = None
    if period is not None:
        found = agents_report(db.session(), period.first, period.last, chosen.slice)
    context = {
        "chosen": chosen,
        "problems": asked.problems,
        "found": found,
        "page_url": _url("reports.portfolio", chosen),
        "table_csv": _table_urls(chosen, tables.AGENT_TABLES),
        "zone": finance_timezone().key,
        "active": "reports.portfolio",
        **WORDS,
    }
    name = "_portfolio_agents.html" if wants_fragment() else "portfolio_agents.html"
    html = render_template(f"reports/{name}", **context)
    trail.record_read(db.session(), g.staff, "reports.agents.view", g.now, filters=chosen.to_args())
    return respond(html)


@blueprint.get("/portfolio.csv")
@staff_required_any(*PAGE_ROLES)
def portfolio_csv() -> ResponseReturnValue:
    """The matrix's table as CSV, one line per pair of buckets; a bad filter (or no
    history yet) goes back to the page to be explained there."""
    asked = _read(_audience())
    chosen, period = asked.chosen, asked.chosen.period
    if asked.problems or period is None:
        return redirect(url_for("reports.portfolio", **_own_arguments()), code=303)
    found = service.roll_rates(db.session(), period.first, period.last, chosen.slice)
    trail.record_read(
        db.session(), g.staff, "reports.portfolio.export", g.now, filters=chosen.to_args()
    )
    lines = _csv_lines(found, period.until.isoformat())
    response = Response(stream_with_context(lines), mimetype="text/csv")
    name = f"portfolio-roll-rates-{period.first.isoformat()}-{period.until.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.get("/portfolio/liquidation.csv")
@staff_required_any(*PAGE_ROLES)
def liquidation_csv() -> ResponseReturnValue:
    """The liquidation curves' cohort table as CSV, one line per cohort, currency and
    month since entry; a bad filter (or no history yet) goes back to the page."""
    asked = _read(_audience())
    chosen, period = asked.chosen, asked.chosen.period
    if asked.problems or period is None:
        return redirect(url_for("reports.portfolio", **_own_arguments()), code=303)
    found = recovery.of_pairs(db.session(), period.first, period.last, chosen.slice)
    trail.record_read(
        db.session(), g.staff, "reports.liquidation.export", g.now, filters=chosen.to_args()
    )
    lines = chain((EXCEL_UTF8,), csv_lines(recovery.CSV_HEADER, recovery.csv_rows(found)))
    response = Response(stream_with_context(lines), mimetype="text/csv")
    name = f"portfolio-liquidation-{found.first.isoformat()}-{found.last.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.get("/portfolio/<name>.csv")
@staff_required_any(*PAGE_ROLES)
def table_csv(name: str) -> ResponseReturnValue:
    """One of the page's other tables as CSV (``portal.web.reports.tables``): a name not
    among them, 404; a table of a section the member's audience does not read (the agents'
    tables: supervisors and admins alone), 403; a bad filter (or no history yet) goes back
    to the page. Only the table's section is computed."""
    if name not in tables.NAMES:
        abort(404)
    audience = _audience()
    if not audience.sees(tables.section_of(name)):
        abort(403)
    asked = _read(audience)
    chosen, period = asked.chosen, asked.chosen.period
    if asked.problems or period is None:
        return redirect(url_for("reports.portfolio", **_own_arguments()), code=303)
    session = db.session()
    rows: Iterable[Sequence[object]]
    if name in tables.AGENT_TABLES:
        agents_table = tables.AGENT_TABLES[name]
        found = agents_report(session, period.first, period.last, chosen.slice)
        header, rows = agents_table.header, agents_table.rows(found)
    else:
        table = tables.SECTION_TABLES[name]
        report = book_report(session, period.first, period.last, chosen.slice, {table.section})
        header, rows = table.header, table.rows(report)
    trail.record_read(
        session, g.staff, "reports.table.export", g.now, table=name, filters=chosen.to_args()
    )
    lines = chain((EXCEL_UTF8,), csv_lines(header, rows))
    response = Response(stream_with_context(lines), mimetype="text/csv")
    filename = f"portfolio-{name}-{period.first.isoformat()}-{period.until.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _table_urls(chosen: Chosen, names: Iterable[str]) -> dict[str, str]:
    """The CSV address of each table of ``names`` for ``chosen``."""
    arguments: dict[str, Any] = chosen.to_args()
    return {name: url_for("reports.table_csv", name=name, **arguments) for name in names}


def _csv_share(share: Fraction | None) -> str:
    return service.share_text(share) or ""


def _csv_lines(found: service.RollRates, until: str) -> Iterator[str]:
    """The CSV: codes and integer minor units a spreadsheet sums, the formatted amount
    beside them (no amount when the slice spans currencies)."""
    yield EXCEL_UTF8
    matrix, currency = found.matrix, found.amounts_in
    rows = []
    for first in OPEN_BUCKETS:
        for then in DESTINATIONS:
            cell, rate = matrix.cell(first, then), matrix.rate(first, then)
            rows.append(
                (
                    found.first.isoformat(),
                    until,
                    found.pairs,
                    first.value,
                    then.value,
                    cell.cases,
                    _csv_share(rate.cases),
                    currency or "",
                    cell.amount if currency else "",
                    money(cell.amount, currency) if currency else "",
                    _csv_share(rate.amount) if currency else "",
                )
            )
    yield from csv_lines(CSV_COLUMNS, rows)


def _chart(matrix: Matrix) -> HeatMap:
    """The heat map of ``matrix``: each cell shaded by its share of its row's cases."""
    return heat_map([[matrix.rate(a, b).cases for b in DESTINATIONS] for a in OPEN_BUCKETS])


def _curves(found: recovery.Liquidation) -> dict[str, tuple[list[Cohort], CurveChart]]:
    """Per currency, the most cases first, the cohorts drawn and their curves: of those
    with a month since entry, from the newest back, every one or every other (and so
    on) so that at most ``SERIES`` lines span the period. The table beside shows every
    cohort."""
    charts = {}
    ordered = sorted(found.by_currency.items(), key=lambda item: -sum(c.cases for c in item[1]))
    for currency, cohorts in ordered:
        followed = [cohort for cohort in cohorts if len(cohort.points) > 1]
        step = max(1, -(-len(followed) // SERIES))
        shown = followed[::-1][::step][::-1]
        lines = [[(point.months, point.rate) for point in cohort.points] for cohort in shown]
        charts[currency] = (shown, curve_chart(lines, found.months))
    return charts


def _funnel(funnel: Funnel) -> dict[str, Any]:
    """The funnel's bars, and its steps by language and by device class (every class,
    unknown included)."""
    return {
        "funnel_chart": funnel_chart(funnel.steps()),
        "funnel_by_language": {
            locale: funnel.steps(language=locale) for locale in funnel.languages
        },
        "funnel_by_device": {device: funnel.steps(device=device) for device in DEVICES},
    }


def _choices(choices: service.SliceChoices) -> dict[str, dict[str, str]]:
    """The form's choices in the page's language: codes named (products, stages,
    markets), owners and teams by name, arms as the strategy names them."""
    offered = choice_values(choices)
    named = {"product": product_name, "stage": stage_name, "market": market_name}
    return {
        key: {
            value: named[key](value) if key in named else label for value, label in values.items()
        }
        for key, values in offered.items()
    }


WORDS: dict[str, Any] = {
    "OPEN_BUCKETS": OPEN_BUCKETS,
    "DESTINATIONS": DESTINATIONS,
    "BUCKET_NAMES": BUCKET_NAMES,
    "FIELD_LABELS": FIELD_LABELS,
    "percent": percent,
    "per_case": per_case,
    "format_number": whole,
    "pair_name": pair_name,
    "label_lines": label_lines,
    # The sections beside the roll rates.
    "KINDS": KINDS,
    "PLAN_KIND_NAMES": PLAN_KIND_NAMES,
    "FIRST_PAYMENT_ORDER": FIRST_PAYMENT_ORDER,
    "FIRST_PAYMENT_CHANNELS": FIRST_PAYMENT_CHANNELS,
    "PLAN_OUTCOMES": PLAN_OUTCOMES,
    "PROMISE_OUTCOMES": PROMISE_OUTCOMES,
    "CONTACT_CHANNELS": CONTACT_CHANNELS,
    "CONTACT_CHANNEL_NAMES": CONTACT_CHANNEL_NAMES,
    "REASONS": REASONS,
    "REFUSAL_TEXT": REFUSAL_TEXT,
    "STEPS": STEPS,
    "FUNNEL_STEPS": FUNNEL_STEPS,
    "device_name": device_name,
    "month_name": month_name,
}
