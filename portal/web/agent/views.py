"""The case queue and the case page (routes of the ``agent`` blueprint).

The queue is one GET form: without JavaScript it reloads the page; with htmx only the
results are replaced (``_queue_fragment.html``) and the address follows, so a filtered
queue can be bookmarked or sent back to. Personal data is masked everywhere here; the
case page reveals a field group on a POST, recorded in the audit log, for that response
only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import Response, g, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.cases import assignment
from portal.cases import queue as queue_service
from portal.cases.casefile import find_case, parse_reveal, read_case, record_reveal, record_view
from portal.core import db
from portal.core.clock import as_utc
from portal.core.i18n import DEFAULT, zone_name
from portal.models import Case, StaffMember
from portal.web.agent import blueprint, case_sections, no_case_html
from portal.web.common.clock import borrower_today, console_zone
from portal.web.common.fragments import respond, wants_fragment
from portal.web.staff.auth import staff_required
from portal.wording import cases as wording
from portal.wording.engine import FREQUENCY_NAMES, event_sentence, plan_event_sentence
from portal.wording.finance import ALLOCATION_TARGETS, PURPOSES, SHOWN_PAYMENT_STATUSES


def console_time(moment: datetime | None) -> str:
    """A stored time in the console's time zone, as the page's language writes it."""
    if moment is None:
        return "—"
    return format_datetime(
        as_utc(moment).astimezone(console_zone()), "medium", locale=str(get_locale() or DEFAULT)
    )


def borrower_clock(timezone: str, moment: datetime) -> str:
    """The time now where the borrower lives, with the zone's name."""
    local = moment.astimezone(ZoneInfo(timezone))
    shown = format_datetime(local, "short", locale=str(get_locale() or DEFAULT))
    return _("%(time)s (%(zone)s)", time=shown, zone=zone_name(timezone))


WORDS: dict[str, Any] = {
    "STAGE_LABELS": wording.STAGE_LABELS,
    "CASE_STATUSES": wording.CASE_STATUSES,
    "HOLD_NAMES": wording.HOLD_NAMES,
    "PLAN_STATUS_NAMES": wording.PLAN_STATUS_NAMES,
    "PLAN_KIND_NAMES": wording.PLAN_KIND_NAMES,
    "CHANNEL_NAMES": wording.CHANNEL_NAMES,
    "CONTACT_OUTCOMES": wording.CONTACT_OUTCOMES,
    "INSTALLMENT_STATES": wording.INSTALLMENT_STATES,
    "CHARGE_KINDS": wording.CHARGE_KINDS,
    "PRODUCT_NAMES": wording.PRODUCT_NAMES,
    "CHARGE_DESCRIPTIONS": wording.CHARGE_DESCRIPTIONS,
    "EVENT_ACTORS": wording.EVENT_ACTORS,
    "REVEAL_LABELS": wording.REVEAL_LABELS,
    "FREQUENCY_NAMES": FREQUENCY_NAMES,
    "TARGET_NAMES": ALLOCATION_TARGETS,
    "PAYMENT_STATUS_NAMES": SHOWN_PAYMENT_STATUSES,
    "PURPOSE_NAMES": PURPOSES,
    "event_name": wording.event_name,
    "event_detail": wording.event_detail,
    "consequence_sentence": event_sentence,
    "plan_consequence_sentence": plan_event_sentence,
    "console_time": console_time,
}


# The queue ------------------------------------------------------------------------------


@blueprint.get("/")
@staff_required("agent")
def queue() -> Response:
    """The case queue: filtered, sorted, searched, a page at a time, personal data masked."""
    arguments = request.args.to_dict()
    if arguments.get("owner") == "me":  # a bookmark that means whoever opens it
        arguments["owner"] = str(g.staff.id)
    chosen, problems = queue_service.parse_filter(arguments)
    found = queue_service.page_of(db.session(), chosen, g.now, zone=console_zone())
    shown = found.filter
    basis = queue_service.amount_basis(shown)  # what amounts are compared in, said above

    # url_for takes its own keywords (_external, _anchor) besides the query's: a
    # dict[str, str] could fill them, so mypy wants the arguments as Any.
    def url(**changes: Any) -> str:
        arguments: dict[str, Any] = shown.to_args(**changes)
        return url_for("agent.queue", **arguments)

    def sort_url(column: str) -> str:
        arguments: dict[str, Any] = shown.sorted_by(column).to_args()
        return url_for("agent.queue", **arguments)

    segment: dict[str, Any] = {
        k: v for k, v in shown.to_args().items() if k not in ("sort", "dir", "page")
    }
    context = {
        "page": found,
        "chosen": shown,
        "reassign_url": url_for("agent.reassign_segment", **segment),
        "problems": problems,
        "amount_basis": basis,
        "url": url,
        "sort_url": sort_url,
        "choices": {
            "stage": queue_service.STAGES,
            "dpd": queue_service.DPD_BANDS,
            "currency": queue_service.CURRENCIES,
            "plan": queue_service.PLAN_STATUSES,
            "hold": queue_service.HOLDS,
            "contact": queue_service.LAST_CONTACTS,
            "owner": _owner_choices(),
            "needs": queue_service.NEEDS,
            "sort": queue_service.SORTS,
            "dir": queue_service.DIRECTIONS,
        },
        "active": "agent.queue",
        **WORDS,
    }
    if not wants_fragment():
        return respond(render_template("agent/queue.html", **context))
    response = respond(render_template("agent/_queue_fragment.html", **context))
    # The address bar shows the filter as the queue understood it, not every empty field.
    response.headers["HX-Push-Url"] = url()
    return response


def _owner_choices() -> dict[str, str]:
    """The owner filter's choices: unassigned, oneself, then everyone cases go to."""
    me: StaffMember = g.staff
    choices = {
        queue_service.UNASSIGNED: _("Unassigned"),
        str(me.id): _("Me (%(name)s)", name=me.name),
    }
    for member in assignment.assignable(db.session()):
        choices.setdefault(str(member.id), member.name)
    return choices


# The case page --------------------------------------------------------------------------


def _not_found(case_id: int) -> Response:
    return respond(no_case_html(case_id), 404)


def _case_page(case: Case, revealed: frozenset[str], fragment: bool = False) -> Response:
    database = db.session()
    today = borrower_today(case)
    casefile = read_case(database, case, today, revealed)
    context = {
        "file": casefile,
        "case": case,
        "borrower_now": borrower_clock(casefile.borrower.timezone, g.now),
        "active": "agent.queue",
        **WORDS,
    }
    if fragment:
        return respond(render_template("agent/_case_borrower.html", **context))
    context["sections"] = case_sections(database, case, g.staff, g.now)
    return respond(render_template("agent/case.html", **context))


@blueprint.get("/cases/<int:case_id>")
@staff_required("agent")
def case(case_id: int) -> Response:
    """One case in full (personal data masked); the visit is recorded."""
    database = db.session()
    found = find_case(database, case_id)
    if found is None:
        return _not_found(case_id)
    record_view(database, g.staff, found, g.now)
    return _case_page(found, frozenset())


@blueprint.post("/cases/<int:case_id>/reveal")
@staff_required("agent")
def reveal(case_id: int) -> Response:
    """Show the borrower's fields of one group in full, in this response only; recorded
    with the fields each time. With htmx, only the borrower's part of the page."""
    database = db.session()
    found = find_case(database, case_id)
    if found is None:
        return _not_found(case_id)
    groups = parse_reveal(request.form.getlist("group"))
    if groups:
        record_reveal(database, g.staff, found, groups, g.now)
    else:
        # Nothing known was asked for: the page as it was, nothing shown, nothing recorded.
        record_view(database, g.staff, found, g.now)
    return _case_page(found, groups, fragment=wants_fragment())
