"""Moving between the borrower's loans: one verification shows them all (issue 20). The
view checks the loan is one of the verified borrower's own and not resolved, makes it the
session's, and shows its status; any other id is a 404 that changes nothing."""

from __future__ import annotations

from flask import abort, g, redirect, session, url_for
from werkzeug.wrappers import Response

from portal.arrangements import statements
from portal.cases.borrower_loans import currency_to_show
from portal.core import db
from portal.web.borrower import session as borrower_session
from portal.web.borrower.session import borrower_facts_required
from portal.web.borrower.views import blueprint


@blueprint.post("/loans/<int:case_id>")
@borrower_facts_required
def show_loan(case_id: int) -> Response:
    """Show the borrower their loan ``case_id`` (the form's CSRF token checked first)."""
    facts = g.session_facts
    currency = currency_to_show(db.session(), facts.borrower_id, case_id)
    if currency is None:
        abort(404)
    borrower_session.switch_to(case_id, facts, currency)
    # The income and spending typed on one loan's options ("other debts": not this
    # loan) and in its currency are not the next loan's: forgotten, typed again there.
    typed = session.pop("statement_key", None)
    if isinstance(typed, str):
        statements.forget(db.session(), typed)
    return redirect(url_for("borrower.status"), code=303)
