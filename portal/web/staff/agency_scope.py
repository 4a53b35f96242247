"""The one place an agency member's reach is decided, for every staff route
(``staff_required`` asks it before the role check).

An agency's staff work as agents, but only inside the agent console and only on the
cases placed with their agency (``portal.agencies.access``):

- a route of the agent console that names a case (``case_id``, or a ``message_id`` of
  one) answers 404 for any case not live-placed with their agency, as if it did not
  exist, and otherwise runs as for an agent (a supervisor's route still needs the
  supervisor role, which an agency member never holds), but for the legal track and
  home visits (``LENDER_ONLY``: 403, their routes and their parts of the case page),
  which stay with the lender;
- of the console's other pages only ``AGENCY_PAGES`` open (the queue, filtered to their
  cases, with its search); everything else (reports, finance, admin, the strategy, the
  supervisor pages, bulk sends, the outbox, the lender's work lists) is 403.

A new route is covered without a word here: it names a case (checked) or it does not
(closed unless listed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, request

from portal.agencies import access
from portal.core.db import Session
from portal.models import StaffMember

# The console's pages without a case an agency member may open.
AGENCY_PAGES = frozenset({"agent.queue"})
# The blueprint whose case routes an agency member may reach.
CASE_BLUEPRINT = "agent"
# The role an agency member works with inside their scope.
ACTS_AS = "agent"
# Case routes that stay with the lender even on a placed case: the legal track (its
# notices and court forms are the lender's own) and home visits. By the words in the
# route's name, so a new one of either is closed too.
LENDER_ONLY = ("legal", "visit")


def lender_only(endpoint: str) -> bool:
    """Whether a case route stays with the lender (``LENDER_ONLY``)."""
    name = endpoint.split(".", 1)[-1]
    return any(word in name for word in LENDER_ONLY)


def lender_only_section(name: str) -> bool:
    """Whether a part of the case page (a tab: ``visits``, ``legal``,
    ``legal_documents``) stays with the lender, by the same words."""
    return any(word in name for word in LENDER_ONLY)


def asked_section(arguments: dict[str, Any]) -> str:
    """The part of the case page a request asks for: the fragment route's
    ``section_name``, or the page's ``?section=``."""
    return str(arguments.get("section_name") or request.args.get("section") or "")


def agency_roles(
    database: Session,
    member: StaffMember,
    endpoint: str | None,
    arguments: dict[str, Any],
    moment: datetime,
) -> frozenset[str]:
    """The roles ``member`` (an agency's) holds for this request: an agent's inside its
    scope, none outside it (the role check then answers 403). A case outside the
    scope aborts with 404."""
    endpoint = endpoint or ""
    if member.agency_id is None or access.AGENCY_ROLE not in member.role_set:
        return frozenset()
    blueprint = endpoint.split(".", 1)[0]
    case_id = arguments.get("case_id")
    if "message_id" in arguments:
        case_id = access.case_of_message(database, int(arguments["message_id"])) or 0
    if blueprint == CASE_BLUEPRINT and case_id is not None:
        if not access.may_reach(database, member, int(case_id), moment):
            abort(404)
        if lender_only(endpoint) or lender_only_section(asked_section(arguments)):
            return frozenset()
        return frozenset({ACTS_AS})
    if endpoint in AGENCY_PAGES:
        return frozenset({ACTS_AS})
    return frozenset()
