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
from flask import Response, current_app, g, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import escape

from portal.cases import assignment
from portal.cases import queue as queue_service
from portal.cases.casefile import find_case, parse_reveal, read_case, record_reveal, record_view
from portal.contact.workspace import case_now
from portal.core import db
from portal.core.clock import as_utc
from portal.core.db import Session
from portal.core.i18n import DEFAULT, zone_name
from portal.legal import queries as legal_queries
from portal.legal.service import rules as legal_rules
from portal.models import Case, StaffMember
from portal.web.agent import (
    CaseSection,
    blueprint,
    case_section,
    case_section_named,
    case_sections,
    no_case_html,
)
from portal.web.common.clock import borrower_today, console_zone
from portal.web.common.fragments import respond, wants_fragment
from portal.web.common.kept_rows import row_keeper
from portal.web.common.page_cache import cached_page, session_values
from portal.web.common.pages import problem_html
from portal.web.staff.agency_scope import lender_only_section
from portal.web.staff.auth import staff_required
from portal.wording import cases as wording
from portal.wording import legal as legal_words
from portal.wording.engine import FREQUENCY_NAMES, event_sentence, plan_event_sentence
from portal.wording.finance import ALLOCATION_TARGETS, PURPOSES, SHOWN_PAYMENT_STATUSES


def console_time(moment: datetime | None) -> str:
    """A stored time in the console's time zone, as the page's language writes it."""
    if moment is None:
        return "—"
    # The request's Locale itself: Babel would parse its name again for every time.
    return format_datetime(
        as_utc(moment).astimezone(console_zone()), "medium", locale=get_locale() or DEFAULT
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
    "FLAG_REASONS": wording.FLAG_REASONS,
    "DISPUTE_REASONS": wording.DISPUTE_REASONS,
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
    # A partner agency's member sees only the cases placed with their agency.
    chosen = queue_service.scoped_to(chosen, g.staff)
    found = queue_service.page_of(db.session(), chosen, g.now, zone=console_zone())
    fragment = wants_fragment()
    # Only the whole page has the form's owner field: an htmx update reads no staff.
    owners = None if fragment else _owner_choices()
    basis = queue_service.amount_basis(found.filter)  # what amounts are compared in
    member: StaffMember = g.staff
    # The page is a function of what the key holds (under TESTING the page cache renders
    # it again and compares): the address, the member the layout names, the page's rows
    # and count as read now, the owners offered, the amounts' basis (the configured
    # rates), the language and the session; the CSRF token is filled in per response.
    key = (
        request.endpoint,
        request.script_root,
        request.full_path,
        fragment,
        str(get_locale()),
        console_zone().key,
        member.id,
        member.name,
        member.role_set,
        found.filter,
        found.total,
        found.pages,
        tuple(found.rows),
        tuple(owners.items()) if owners is not None else None,
        basis.currency,
        tuple(sorted(basis.rates.items())) if basis.rates is not None else None,
        session_values(),
    )
    html = cached_page(key, g.now, lambda: _queue_page(found, problems, basis, owners))
    response = respond(html)
    if fragment:
        # The address bar shows the filter as the queue understood it, not every empty
        # field.
        response.headers["HX-Push-Url"] = _queue_url(found.filter.to_args())
    return response


def _queue_url(arguments: dict[str, Any]) -> str:
    """The queue's address with the query ``arguments`` (``url_for`` takes keywords of its
    own besides the query's, _external and _anchor, which a dict[str, str] could fill:
    mypy wants the arguments as Any)."""
    return url_for("agent.queue", **arguments)


def _queue_page(
    found: queue_service.QueuePage,
    problems: list[str],
    basis: queue_service.AmountBasis,
    owners: dict[str, str] | None,
) -> str:
    """The queue's page (or, with no ``owners``, its htmx fragment) showing ``found``."""
    shown = found.filter
    # Each link is built once a response: the template asks for a heading's or a page's
    # address twice (its href and its data-hx-get).
    urls: dict[tuple[Any, ...], str] = {}

    def url(**changes: Any) -> str:
        key = ("page", *sorted(changes.items()))
        if key not in urls:
            urls[key] = _queue_url(shown.to_args(**changes))
        return urls[key]

    def sort_url(column: str) -> str:
        key = ("sort", column)
        if key not in urls:
            urls[key] = _queue_url(shown.sorted_by(column).to_args())
        return urls[key]

    segment: dict[str, Any] = {
        k: v for k, v in shown.to_args().items() if k not in ("sort", "dir", "page")
    }
    # The form's choices translated once (see ``_translated``): only the whole page
    # lists every one, but the fragment's sort fields list two of them too.
    choices: dict[str, Any] = {
        name: _translated_once(name, words)
        for name, words in (
            ("stage", queue_service.STAGES),
            ("dpd", queue_service.DPD_BANDS),
            ("currency", queue_service.CURRENCIES),
            ("plan", queue_service.PLAN_STATUSES),
            ("hold", queue_service.HOLDS),
            ("contact", queue_service.LAST_CONTACTS),
            ("needs", queue_service.NEEDS),
            ("sort", queue_service.SORTS),
            ("dir", queue_service.DIRECTIONS),
        )
    }
    context = {
        "page": found,
        "chosen": shown,
        "reassign_url": url_for("agent.reassign_segment", **segment),
        "place_url": url_for("agent.agencies", **segment),
        "problems": problems,
        "amount_basis": basis,
        "url": url,
        "sort_url": sort_url,
        "choices": choices,
        "active": "agent.queue",
        **WORDS,
        **_row_words(found),
    }
    if owners is None:
        return render_template("agent/_queue_fragment.html", **context)
    choices["owner"] = owners
    # The form shows the filter, the choices (the owners' are the only ones read here;
    # the rest are the language's) and whether problems open it: its key, with the
    # language and script root ``row_keeper`` adds. The page has no WTForms form.
    kept_form, keep_form = row_keeper("agent.queue.form")
    form_key = (shown, tuple(owners.items()), bool(problems))
    context.update(kept_form=kept_form, keep_form=keep_form, form_key=form_key, form_errors=False)
    return render_template("agent/queue.html", **context)


# The words each row of the queue looks up (stage, state, hold, plan), by stored code.
ROW_WORDS = ("STAGE_LABELS", "CASE_STATUSES", "HOLD_NAMES", "PLAN_STATUS_NAMES")


def _row_words(found: queue_service.QueuePage) -> dict[str, Any]:
    """The rows' words translated once for this response, not once a row: a page of fifty
    rows looked each lazy string up three or four times a row. The HTML is the same:
    ``escape`` gives what Jinja prints for a lazy string (its ``__html__``, the
    translated text as it is)."""
    if not found.rows:
        return {}
    kept_row, keep_row = row_keeper("agent.queue")
    words = {name: _translated_once(name, WORDS[name]) for name in ROW_WORDS}
    return {**words, "kept_row": kept_row, "keep_row": keep_row}


def _translated(words: dict[str, Any]) -> dict[str, Any]:
    """``words`` with each lazy string translated for this response: ``escape`` gives
    what Jinja prints for one (its ``__html__``, the translated text as it is)."""
    return {
        code: escape(word) if isinstance(word, LazyString) else word for code, word in words.items()
    }


def _translated_once(name: str, words: dict[str, Any]) -> dict[str, Any]:
    """``_translated(words)`` for the request's language, worked out once per language
    and app (the catalogs and the words are fixed while the app runs), under ``name``;
    do not change what it returns."""
    kept: dict[tuple[str, str], dict[str, Any]]
    kept = current_app.extensions.setdefault("haohuan.queue_words", {})
    key = (str(get_locale()), name)
    if key not in kept:
        kept[key] = _translated(words)
    return kept[key]


def _owner_choices() -> dict[str, str]:
    """The owner filter's choices: unassigned, oneself, then everyone cases go to."""
    me: StaffMember = g.staff
    choices = {
        queue_service.UNASSIGNED: _("Unassigned"),
        str(me.id): _("Me (%(name)s)", name=me.name),
    }
    for member_id, name in assignment.assignable_names(db.session()):
        choices.setdefault(str(member_id), name)
    return choices


# The case page --------------------------------------------------------------------------
#
# A summary above the fold (the case, "may I call now?", what is waiting, what to do next),
# then the case's sections as tabs: one open at a time, rendered with the page
# (``?section=<name>``, without JavaScript) or loaded alone by htmx from its fragment
# route. Only the open section's data is read.

DEFAULT_SECTION = "arrears"


@case_section(10, "agent/_case_arrears.html", name="arrears", label=_l("Arrears"))
@case_section(12, "agent/_case_borrower_part.html", name="borrower", label=_l("Borrower"))
@case_section(14, "agent/_case_loan.html", name="loan", label=_l("Loan"))
@case_section(70, "agent/_case_schedule.html", name="schedule", label=_l("Schedule"))
@case_section(72, "agent/_case_plans.html", name="plans", label=_l("Plans"))
@case_section(74, "agent/_case_payments.html", name="payments", label=_l("Payments"))
@case_section(80, "agent/_case_events.html", name="events", label=_l("Events"))
@case_section(82, "agent/_case_contacts.html", name="contacts", label=_l("Contact log"))
def casefile_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case's own sections: their templates read the case file (``file``), which
    queries what each shows when it is first shown."""
    return {}


def _not_found(case_id: int) -> Response:
    return respond(no_case_html(case_id), 404)


def _no_section(case: Case, name: str) -> Response:
    html = problem_html(
        _("No such part of the case"),
        _("A case page has no part called “%(name)s”.", name=name[:40]),
        url_for("agent.case", case_id=case.id),
        _("Back to the case"),
    )
    return respond(html, 404)


def _context(case: Case, section: CaseSection, revealed: frozenset[str]) -> dict[str, Any]:
    """What the page and its fragments render: the case file (read as it is shown), the
    open section's own context, and the tabs."""
    database = db.session()
    casefile = read_case(database, case, borrower_today(case), revealed)
    return {
        "file": casefile,
        "case": case,
        "borrower_now": borrower_clock(casefile.borrower.timezone, g.now),
        "tabs": _tabs_for(g.staff),
        "open_section": section,
        "section": (built := section.build(database, case, g.staff, g.now)),
        **built,
        "active": "agent.queue",
        **WORDS,
    }


def _tabs_for(member: StaffMember) -> list[CaseSection]:
    """The case page's tabs ``member`` may open: an agency's staff do not see the parts
    that stay with the lender (``agency_scope.LENDER_ONLY``)."""
    tabs = case_sections()
    if member.agency_id is None:
        return list(tabs)
    return [tab for tab in tabs if not lender_only_section(tab.name)]


def _case_page(case: Case, section: CaseSection, revealed: frozenset[str]) -> Response:
    context = _context(case, section, revealed)
    context["now"] = case_now(db.session(), case, g.now)
    # The legal track's line in "waiting on this case" stays with the lender too.
    context["legal_now"] = (
        None
        if g.staff.agency_id is not None
        else legal_queries.live_file(db.session(), case.id, legal_rules())
    )
    context["LEGAL"] = legal_words
    return respond(render_template("agent/case.html", **context))


def _chosen_section(name: str | None) -> CaseSection | None:
    return case_section_named(name or DEFAULT_SECTION)


@blueprint.get("/cases/<int:case_id>")
@staff_required("agent")
def case(case_id: int) -> Response:
    """The case: its summary, and one section open (``?section=``; personal data
    masked). The visit is recorded, with the section shown."""
    database = db.session()
    found = find_case(database, case_id)
    if found is None:
        return _not_found(case_id)
    section = _chosen_section(request.args.get("section"))
    if section is None:
        return _no_section(found, request.args.get("section", ""))
    record_view(database, g.staff, found, g.now, section=section.name)
    return _case_page(found, section, frozenset())


@blueprint.get("/cases/<int:case_id>/sections/<section_name>")
@staff_required("agent")
def case_section_fragment(case_id: int, section_name: str) -> Response:
    """One section of the case with the tabs, for htmx to put in place of the open one;
    recorded as a view of the case, with the section shown."""
    database = db.session()
    found = find_case(database, case_id)
    if found is None:
        return _not_found(case_id)
    section = case_section_named(section_name)
    if section is None:
        return _no_section(found, section_name)
    record_view(database, g.staff, found, g.now, section=section.name)
    return respond(
        render_template("agent/_case_sections.html", **_context(found, section, frozenset()))
    )


@blueprint.post("/cases/<int:case_id>/reveal")
@staff_required("agent")
def reveal(case_id: int) -> Response:
    """Show the borrower's fields of one group in full, in this response only; recorded
    with the fields each time. The page opens on the borrower; with htmx, only the
    borrower's part is returned."""
    database = db.session()
    found = find_case(database, case_id)
    if found is None:
        return _not_found(case_id)
    groups = parse_reveal(request.form.getlist("group"))
    if groups:
        record_reveal(database, g.staff, found, groups, g.now)
    else:
        # Nothing known was asked for: the page as it was, nothing shown, nothing recorded.
        record_view(database, g.staff, found, g.now, section="borrower")
    section = case_section_named("borrower")
    if section is None:  # never: registered in this module
        return _not_found(case_id)
    if wants_fragment():
        context = _context(found, section, groups)
        return respond(render_template("agent/_case_borrower.html", **context))
    return _case_page(found, section, groups)
