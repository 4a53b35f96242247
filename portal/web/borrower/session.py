"""The borrower's session: begun fresh after verification, scoped to one case,
15 minutes idle and 2 hours at most, ended when its link is revoked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import g, session, url_for

from portal.access import verification
from portal.access.verification import LinkState, link_state
from portal.core import db
from portal.core.clock import now
from portal.core.db import Session
from portal.core.i18n import market_of, speak_to
from portal.models import Case, ReminderLink
from portal.web.common.fragments import leave_page
from portal.web.common.sessions import still_fresh

IDLE_LIMIT = timedelta(minutes=15)
ABSOLUTE_LIMIT = timedelta(hours=2)


def begin(link: ReminderLink, moment: datetime) -> None:
    """Start a new session for the link's borrower, dropping anything from before
    (only the language choice survives)."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session.update(
        case_id=link.case_id,
        link_id=link.id,
        generation=link.session_generation,
        borrower_locale=link.case.loan.borrower.locale,
        borrower_market=market_of(link.case.loan.currency),
        offer_id=link.offer_id,
        started=moment.isoformat(),
        seen=moment.isoformat(),
    )


def sign_out(database: Session) -> None:
    """End this session for good: a copy of its cookie no longer works either."""
    link_id = session.get("link_id")
    link = database.get(ReminderLink, link_id) if isinstance(link_id, int) else None
    if link is not None:
        verification.end_link_sessions(database, link)
    end()


def end() -> None:
    """Forget the borrower (keeping the language choice)."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def current_case(database: Session, moment: datetime) -> Case | None:
    """The case this session may see, or None when it has ended."""
    case_id, link_id = session.get("case_id"), session.get("link_id")
    if case_id is None or link_id is None:
        return None
    if not still_fresh("started", "seen", moment, IDLE_LIMIT, ABSOLUTE_LIMIT):
        return None
    link = database.get(ReminderLink, link_id)
    if link is None or link.case_id != case_id:
        return None
    if link_state(link, moment) in (LinkState.REVOKED, LinkState.DISABLED):
        return None
    if session.get("generation") != link.session_generation:
        return None
    session["seen"] = moment.isoformat()
    # Every borrower page reads the loan, its borrower, installments and charges.
    return verification.borrower_case(database, case_id)


def borrower_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``view`` only inside a live borrower session; ``g.case`` is its case."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        moment = now()
        case = current_case(db.session(), moment)
        if case is None:
            end()
            return leave_page(url_for("borrower.session_ended"), code=302)
        g.case = case
        g.now = moment
        speak_to(case.loan.borrower.locale, case.loan.currency)
        return view(*args, **kwargs)

    return wrapper
