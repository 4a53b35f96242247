"""The borrower's session: begun fresh after verification, scoped to one case,
15 minutes idle and 2 hours at most, ended when its link is revoked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import g, request, session, url_for
from werkzeug.datastructures import MultiDict

from portal.access import verification
from portal.access.verification import LinkState, SessionFacts, link_state
from portal.cases import borrower_loans
from portal.core import db
from portal.core.clock import now
from portal.core.db import Session
from portal.core.i18n import market_of, speak_to
from portal.models import Case, ReminderLink
from portal.web.borrower import kept_forms
from portal.web.common.fragments import leave_page
from portal.web.common.sessions import still_fresh

IDLE_LIMIT = timedelta(minutes=15)
ABSOLUTE_LIMIT = timedelta(hours=2)
# Forms whose half-written content is kept when they are posted after the session ended,
# and given back after verification (the page must accept a GET and restore its form).
RESTORED_FORMS = frozenset({"borrower.help_page"})
KEPT = "kept_form"  # the session key of the kept form's token


def begin(link: ReminderLink, moment: datetime) -> None:
    """Start a new session for the link's borrower, dropping anything from before
    (only the language choice survives, and the name of a kept form: see
    ``kept_destination``)."""
    language = session.get("lang")
    kept = session.get(KEPT)
    session.clear()
    if language:
        session["lang"] = language
    if kept:
        session[KEPT] = kept
    session.update(
        case_id=link.case_id,
        link_id=link.id,
        generation=link.session_generation,
        borrower_locale=link.case.loan.borrower.locale,
        borrower_market=market_of(link.case.loan.currency),
        offer_id=link.offer_id,
        link_offer_id=link.offer_id,
        started=moment.isoformat(),
        seen=moment.isoformat(),
    )


def switch_to(case_id: int, facts: SessionFacts, currency: str) -> None:
    """Show the borrower another of their loans (``may_switch_to`` said they may). The
    session stays the verified link's: signing out or revoking it ends every loan. The
    link's offer goes with the link's own loan only, and what was started for one loan's
    card (an autopay set-up) is dropped."""
    session["case_id"] = case_id
    own = case_id == facts.link_case_id
    session["offer_id"] = session.get("link_offer_id") if own else None
    session["borrower_market"] = market_of(currency)
    for started_for_the_loan in ("autopay_setup", "autopay_customer"):
        session.pop(started_for_the_loan, None)


def follow_payment(*, payment_id: int | None = None, reference: str | None = None) -> bool:
    """When the payment asked for is on another of the borrower's loans (opened there,
    then the borrower moved to this one), show that loan for this request and after:
    True when the session's case changed. Another person's payment changes nothing."""
    database = db.session()
    found = borrower_loans.case_of_payment(
        database, g.session_facts.borrower_id, payment_id=payment_id, reference=reference
    )
    if found is None or found[0] == g.session_facts.case_id:
        return False
    switch_to(found[0], g.session_facts, found[1])
    facts = current_facts(database, g.now)
    if facts is None:  # the link ended between the two statements
        return False
    g.session_facts = facts
    g.case = _case(database, facts)
    speak_to(facts.locale, facts.currency)
    return True


def sign_out(database: Session) -> None:
    """End this session for good: a copy of its cookie no longer works either."""
    link_id = session.get("link_id")
    link = database.get(ReminderLink, link_id) if isinstance(link_id, int) else None
    if link is not None:
        verification.end_link_sessions(database, link)
    end()


def end() -> None:
    """Forget the borrower (keeping the language choice, and the name of a form kept
    from an ended session: only a verification for its case gives it back)."""
    language, kept = session.get("lang"), session.get(KEPT)
    session.clear()
    if language:
        session["lang"] = language
    if kept:
        session[KEPT] = kept


def current_facts(database: Session, moment: datetime) -> SessionFacts | None:
    """The facts of this session's link and case, or None when the session has ended
    (idle or too old, its link revoked or disabled, or signed out since)."""
    case_id, link_id = session.get("case_id"), session.get("link_id")
    if case_id is None or link_id is None:
        return None
    if not still_fresh("started", "seen", moment, IDLE_LIMIT, ABSOLUTE_LIMIT):
        return None
    if not isinstance(case_id, int) or not isinstance(link_id, int):
        return None
    facts = verification.session_facts(database, link_id, case_id)
    if facts is None:
        return None
    if link_state(facts, moment) in (LinkState.REVOKED, LinkState.DISABLED):
        return None
    if session.get("generation") != facts.session_generation:
        return None
    session["seen"] = moment.isoformat()
    return facts


def _case(database: Session, facts: SessionFacts) -> Case:
    case = verification.borrower_case(database, facts.case_id)
    if case is None:  # deleted between the two statements of this request
        raise LookupError(facts.case_id)
    return case


def case() -> Case:
    """The session's case (``borrower_required`` checked the session), loaded on the first
    call in a request: a page served from the page cache never asks for it."""
    if "case" not in g:
        g.case = _case(db.session(), g.session_facts)
    found: Case = g.case
    return found


def borrower_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``view`` only inside a live borrower session; ``g.case`` is its case."""
    return _guarded(view, load_case=True)


def borrower_facts_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """As ``borrower_required``, but the case is not loaded: ``g.session_facts`` has its
    ids, and ``case()`` loads it when the view needs it."""
    return _guarded(view, load_case=False)


def _guarded(view: Callable[..., Any], *, load_case: bool) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        moment = now()
        facts = current_facts(db.session(), moment)
        if facts is None:
            kept = _keep_what_was_posted()
            end()
            if kept:
                session[KEPT] = kept
                return leave_page(url_for("borrower.session_ended", kept=1), code=303)
            return leave_page(url_for("borrower.session_ended"), code=302)
        g.session_facts = facts
        g.now = moment
        if load_case:
            case()
        speak_to(facts.locale, facts.currency)
        return view(*args, **kwargs)

    return wrapper


def _keep_what_was_posted() -> str | None:
    """A form posted into an ended session, kept for its case: the token, or None."""
    case_id = session.get("case_id")
    if request.method != "POST" or request.endpoint not in RESTORED_FORMS:
        return None
    if not isinstance(case_id, int):
        return None
    return kept_forms.keep(case_id, request.endpoint, request.form.to_dict(flat=False))


def kept_destination(link: ReminderLink) -> str | None:
    """Where a borrower just verified through ``link`` goes back to: the page of the
    form they were writing when their last session ended, if it was for the link's case
    or another open loan of the same borrower (the session then shows that loan)."""
    token = session.get(KEPT)
    kept = kept_forms.peek(token) if isinstance(token, str) else None
    if kept is None:
        session.pop(KEPT, None)
        return None
    if kept.case_id != link.case_id:
        borrower_id = link.case.loan.borrower_id
        currency = borrower_loans.currency_to_show(db.session(), borrower_id, kept.case_id)
        if currency is None:  # another person's form, or a loan closed since
            session.pop(KEPT, None)
            return None
        session.update(case_id=kept.case_id, offer_id=None, borrower_market=market_of(currency))
    return url_for(kept.endpoint)


def restore_form(case_id: int, endpoint: str) -> MultiDict[str, str] | None:
    """The fields kept for this case's ``endpoint``, given back once; None if none."""
    token = session.get(KEPT)
    kept = kept_forms.peek(token) if isinstance(token, str) else None
    if kept is None or kept.case_id != case_id or kept.endpoint != endpoint:
        return None
    session.pop(KEPT, None)
    kept_forms.take(str(token))
    return kept.formdata()


def seconds_left(moment: datetime) -> int:
    """How long this session lasts if nothing more happens: 15 minutes from this request,
    or less when the 2 hours in all run out first."""
    try:
        started = datetime.fromisoformat(session["started"])
    except (KeyError, TypeError, ValueError):
        return 0
    left = min(IDLE_LIMIT, ABSOLUTE_LIMIT - (moment - started))
    return max(0, int(left.total_seconds()))
