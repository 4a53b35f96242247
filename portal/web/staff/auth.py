"""Staff sessions and the ``staff_required`` decorator every console view wears.

A staff session is begun fresh at sign-in (nothing from before survives but the language
choice), lasts 30 minutes idle and 12 hours at most, and carries the account's
``session_generation``: a password change, a deactivation or a sign-out moves it on, and
every copy of an older cookie stops working. Borrower and staff sessions use different
keys and each sign-in clears the other's, so neither can stand in for the other.

Every view of a staff blueprint (made with ``staff_blueprint``) either wears
``staff_required`` or is marked ``open_to_all`` (signing in and out); both record
themselves on the view (``STAFF_ROLES_ATTRIBUTE``, ``OPEN_ATTRIBUTE``), and a test walks
the URL map to check every such route against every role.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, g, render_template, request, session, url_for

from portal.agencies.access import is_agency_member
from portal.core import db
from portal.core.clock import now
from portal.core.db import Session
from portal.models import StaffMember
from portal.staff import accounts
from portal.staff.accounts import unknown_roles
from portal.web.common.fragments import leave_page
from portal.web.common.sessions import still_fresh
from portal.web.extensions import htmx
from portal.web.staff.agency_scope import agency_roles

IDLE_LIMIT = timedelta(minutes=30)
ABSOLUTE_LIMIT = timedelta(hours=12)
# How stale the session's last-use time may be before a request writes it again: the
# cookie is signed and sent afresh only when it moves, not on every page, so the idle
# limit counts from at most this long before the last request (it ends that much early,
# never late).
SEEN_STEP = timedelta(minutes=1)
STAFF_KEYS = ("staff_id", "staff_generation", "staff_started", "staff_seen")
# Between a right password and its one-time code: who, which generation, since when.
PENDING_KEY = "staff_pending"
PENDING_LIMIT = timedelta(minutes=5)
# Enrolling takes longer: installing an app, scanning, typing the first code.
ENROL_LIMIT = timedelta(minutes=15)
CODE_STEP = "code"
ENROL_STEP = "enrol"
STAFF_ROLES_ATTRIBUTE = "staff_roles"
OPEN_ATTRIBUTE = "staff_open"
ANY_ROLE_ATTRIBUTE = "staff_any_role"
STAFF_BLUEPRINT_ATTRIBUTE = "is_staff"


def staff_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint of staff pages: marked so the route-and-role test finds it."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix)
    setattr(blueprint, STAFF_BLUEPRINT_ATTRIBUTE, True)
    return blueprint


def open_to_all(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a staff view that anyone may reach (signing in and out): a deliberate
    exception, declared where the route is, that the route-and-role test accepts."""
    setattr(view, OPEN_ATTRIBUTE, True)
    return view


def await_code(member: StaffMember, moment: datetime, *, enrol: bool = False) -> None:
    """Remember, for a few minutes, whose password was right while the code is asked for
    (``enrol``: while a first code is enrolled, for an account that must have one)."""
    session[PENDING_KEY] = {
        "id": member.id,
        "generation": member.session_generation,
        "at": moment.isoformat(),
        "step": ENROL_STEP if enrol else CODE_STEP,
    }


def awaiting_code(moment: datetime, *, enrol: bool = False) -> tuple[int, int] | None:
    """The (account id, generation) waiting for its code (``enrol``: for its first code),
    or None when there is none or it has waited too long."""
    pending: Any = session.get(PENDING_KEY)  # whatever the cookie holds: checked below
    try:
        since = datetime.fromisoformat(pending["at"])
        member_id, generation = int(pending["id"]), int(pending["generation"])
        step = pending.get("step", CODE_STEP)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    if step != (ENROL_STEP if enrol else CODE_STEP):
        return None
    limit = ENROL_LIMIT if enrol else PENDING_LIMIT
    if not timedelta(0) <= moment - since <= limit:
        return None
    return member_id, generation


def forget_code() -> None:
    """Drop the waiting code step."""
    session.pop(PENDING_KEY, None)


def begin(member: StaffMember, moment: datetime) -> None:
    """Start a new session for ``member``, dropping anything from before (a borrower's
    session too); only the language choice survives."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session.update(
        staff_id=member.id,
        staff_generation=member.session_generation,
        staff_started=moment.isoformat(),
        staff_seen=moment.isoformat(),
    )


def end() -> None:
    """Forget the staff member (keeping the language choice)."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def sign_out(database: Session, moment: datetime) -> None:
    """End this session and every copy of it: cookies live in the browser, so only moving
    the generation on makes a copied cookie worthless. ``accounts.sign_out`` records it
    and commits."""
    member = current_member(database, moment)
    if member is not None:
        accounts.sign_out(database, member, moment)
    end()


def current_member(database: Session, moment: datetime) -> StaffMember | None:
    """The active staff member this session belongs to, or None when it has ended."""
    member_id = session.get("staff_id")
    if not isinstance(member_id, int):
        return None
    if not still_fresh("staff_started", "staff_seen", moment, IDLE_LIMIT, ABSOLUTE_LIMIT):
        return None
    member = database.get(StaffMember, member_id)
    if member is None or not member.active:
        return None
    if session.get("staff_generation") != member.session_generation:
        return None
    if moment - datetime.fromisoformat(session["staff_seen"]) >= SEEN_STEP:
        session["staff_seen"] = moment.isoformat()
    return member


def safe_next(target: str | None) -> str | None:
    """A path on this site to return to after signing in, or None (never another site).

    Parsed, not pattern-matched: browsers drop tabs and newlines from a URL and read a
    backslash as a slash, so ``/<tab>/evil.example`` would leave the site as
    ``//evil.example``. A backslash, a space, or a control or format character refuses
    the target, and so does a control or format character once it is percent-decoded;
    what is left must be a path that starts with exactly one slash, with no scheme and
    no host."""
    if not target or "\\" in target or target.startswith("//"):
        return None
    if any(unicodedata.category(ch)[0] in "CZ" for ch in target):
        return None
    if any(unicodedata.category(ch)[0] == "C" for ch in unquote(target)):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    return target


def _page_to_return_to() -> str | None:
    """The page to come back to after signing in: this one for a plain GET; for an
    htmx request, the page it was made from (a preview's own URL is no page)."""
    if htmx:
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        if current.netloc and current.netloc != request.host:
            return None
        return current.path + (f"?{current.query}" if current.query else "") or None
    return request.full_path.rstrip("?") if request.method == "GET" else None


def staff_required_any(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``staff_required`` for a view open to a member holding any one of ``roles`` (the
    assignment rules: supervisors and admins); recorded with ``ANY_ROLE_ATTRIBUTE``."""
    return staff_required(*roles, any_role=True)


def staff_required(
    *roles: str, any_role: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the view only for a signed-in, active staff member holding every one of
    ``roles`` (with ``any_role``, one of them): signed out, to the sign-in page (and back
    afterwards); without the role, 403. ``g.staff`` is the member. The roles are
    recorded on the view (``STAFF_ROLES_ATTRIBUTE``); a role that is not a staff role is
    a programming error, refused when the module loads. A partner agency's member holds
    only what ``agency_scope.agency_roles`` gives them for this request (an agent's on
    the cases placed with their agency, 404 for any other case)."""
    unknown = unknown_roles(roles)
    if unknown:
        raise ValueError(f"unknown staff roles: {', '.join(unknown)}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            moment = now()
            member = current_member(db.session(), moment)
            if member is None:
                had_session = "staff_id" in session
                # Only the staff keys go: a borrower's session in this browser is theirs.
                for key in STAFF_KEYS:
                    session.pop(key, None)
                return leave_page(
                    url_for(
                        "staff.sign_in",
                        next=safe_next(_page_to_return_to()),
                        ended=1 if had_session else None,
                    )
                )
            g.staff = member
            g.now = moment
            held = member.role_set
            if is_agency_member(member):
                # A partner agency's staff: their scope decides (404 for a case not
                # placed with their agency, no role outside the console's case pages).
                held = agency_roles(db.session(), member, request.endpoint, kwargs, moment)
            allowed = bool(set(roles) & held) if any_role else set(roles) <= held
            if not allowed:
                return render_template("staff/forbidden.html"), 403
            return view(*args, **kwargs)

        setattr(wrapper, STAFF_ROLES_ATTRIBUTE, frozenset(roles))
        setattr(wrapper, ANY_ROLE_ATTRIBUTE, any_role)
        return wrapper

    return decorate
