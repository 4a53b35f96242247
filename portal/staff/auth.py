"""Staff sessions and the ``staff_required`` decorator every console view wears.

A staff session is begun fresh at sign-in (nothing from before survives but the language
choice), lasts 30 minutes idle and 12 hours at most, and carries the account's
``session_generation``: a password change, a deactivation or a sign-out moves it on, and
every copy of an older cookie stops working. Borrower and staff sessions use different
keys and each sign-in clears the other's, so neither can stand in for the other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import g, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session

from portal import db
from portal.clock import now
from portal.models import StaffMember

IDLE_LIMIT = timedelta(minutes=30)
ABSOLUTE_LIMIT = timedelta(hours=12)
STAFF_KEYS = ("staff_id", "staff_generation", "staff_started", "staff_seen")


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


def sign_out(database: Session) -> None:
    """End this session and every copy of it: cookies live in the browser, so only moving
    the generation on makes a copied cookie worthless. Commits."""
    member = current_member(database, now())
    if member is not None:
        member.session_generation += 1
        database.commit()
    end()


def current_member(database: Session, moment: datetime) -> StaffMember | None:
    """The active staff member this session belongs to, or None when it has ended."""
    member_id = session.get("staff_id")
    if not isinstance(member_id, int):
        return None
    try:
        started = datetime.fromisoformat(session["staff_started"])
        seen = datetime.fromisoformat(session["staff_seen"])
    except (KeyError, TypeError, ValueError):
        return None
    if moment - seen > IDLE_LIMIT or moment - started > ABSOLUTE_LIMIT:
        return None
    member = database.get(StaffMember, member_id)
    if member is None or not member.active:
        return None
    if session.get("staff_generation") != member.session_generation:
        return None
    session["staff_seen"] = moment.isoformat()
    return member


def safe_next(target: str | None) -> str | None:
    """A path on this site to return to after signing in, or None (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(character in target for character in "\\\r\n"):
        return None
    return target


def staff_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the view only for a signed-in, active staff member holding every one of
    ``roles``: signed out, to the sign-in page (and back afterwards); without the role,
    403. ``g.staff`` is the member."""

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
                back = request.full_path if request.method == "GET" else None
                return redirect(
                    url_for(
                        "staff.sign_in",
                        next=safe_next(back.rstrip("?") if back else None),
                        ended=1 if had_session else None,
                    ),
                    code=303,
                )
            g.staff = member
            g.now = moment
            if not set(roles) <= member.role_set:
                return render_template("staff/forbidden.html"), 403
            return view(*args, **kwargs)

        return wrapper

    return decorate
