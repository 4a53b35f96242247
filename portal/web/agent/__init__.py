"""The agent console: the case queue and case pages, offers and their approval, reminders
on every channel, calls and promises to pay.

The case page is a summary above sections, each owned by the module that knows its
subject: a module registers ``@case_section(order, "agent/_x.html", name=..., label=...)``
with a function that returns the template's context for one case. The page shows the
sections as tabs and renders only the open one (``?section=<name>``); each is also a
fragment of its own (``/agent/cases/<id>/sections/<name>``) that htmx loads in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, make_response, url_for
from flask_babel import gettext as _

from portal.cases import casefile
from portal.core import db
from portal.core.db import Session
from portal.models import Case, StaffMember
from portal.web.common.pages import problem_html
from portal.web.staff.auth import staff_blueprint

blueprint = staff_blueprint("agent", __name__, url_prefix="/agent")

SectionBuilder = Callable[[Session, Case, StaffMember, datetime], dict[str, Any]]


@dataclass(frozen=True)
class CaseSection:
    """One section of the case page: its name (the page's ``?section=`` and its fragment's
    address), its label on the tab, its place, its template, and what fills it."""

    name: str
    label: Any  # a lazy string: the tab's words in the request's language
    order: int
    template: str
    build: SectionBuilder


SECTIONS: list[CaseSection] = []


def case_section(
    order: int, template: str, *, name: str, label: Any
) -> Callable[[SectionBuilder], SectionBuilder]:
    """Register a section of the case page (lower ``order`` first). ``build`` runs only
    when its section is the one open, so the page reads only that section's data."""

    def register(build: SectionBuilder) -> SectionBuilder:
        if any(s.name == name for s in SECTIONS):
            raise ValueError(f"two case sections are named {name}")
        SECTIONS.append(CaseSection(name, label, order, template, build))
        SECTIONS.sort(key=lambda section: section.order)
        return build

    return register


def case_sections() -> list[CaseSection]:
    """Every section of the case page, in the tabs' order."""
    return SECTIONS


def case_section_named(name: str) -> CaseSection | None:
    """The section called ``name``, or None."""
    return next((s for s in SECTIONS if s.name == name), None)


def find_case(case_id: int) -> Case | None:
    """The case with this id, or None (an id no database column could hold included)."""
    return casefile.find_case(db.session(), case_id)


def no_case_html(case_id: int) -> str:
    """The console's page for a case number that does not exist."""
    return problem_html(
        _("No such case"),
        _("There is no case number %(number)s.", number=case_id),
        url_for("agent.queue"),
        _("Back to the cases"),
    )


def no_case(case_id: int) -> Response:
    """``no_case_html`` as a 404 response."""
    return make_response(no_case_html(case_id), 404)


# The view modules attach their routes and sections to ``blueprint`` when imported.
import portal.web.agent.agency_views  # noqa: E402
import portal.web.agent.autopay_views  # noqa: E402
import portal.web.agent.call_views  # noqa: E402
import portal.web.agent.hold_views  # noqa: E402
import portal.web.agent.legal_document_views  # noqa: E402
import portal.web.agent.legal_views  # noqa: E402
import portal.web.agent.letter_views  # noqa: E402
import portal.web.agent.message_views  # noqa: E402
import portal.web.agent.offer_views  # noqa: E402
import portal.web.agent.owner_views  # noqa: E402
import portal.web.agent.segment_views  # noqa: E402
import portal.web.agent.strategy_views  # noqa: E402
import portal.web.agent.visit_views  # noqa: E402
import portal.web.agent.work_views  # noqa: E402, F401
from portal.web.agent import views  # noqa: E402, F401
