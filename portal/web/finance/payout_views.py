"""Payouts to the bank, in the finance console: the payouts (those still waiting for the
bank first), a bank statement's import, and one payout's page with the transactions it
carried and its tick-off against the bank deposit (``portal.finance.payouts``). Views
parse, call one service function, and render."""

from __future__ import annotations

from typing import Any

from flask import Response, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.core import db
from portal.core.db import by_id
from portal.finance import payouts
from portal.models import BankStatement, Payout
from portal.web.common.pages import problem_page
from portal.web.finance.forms import DepositChoiceForm, StatementForm, TickOffForm
from portal.web.finance.views import blueprint
from portal.web.security import allow_body
from portal.web.staff.auth import staff_required
from portal.wording.payouts import (
    MATCH_METHODS,
    PAYOUT_STATUSES,
    refusal_status,
    refusal_text,
    statement_problem,
)

# A statement's body: the file and the form's few fields around it.
STATEMENT_BODY = payouts.STATEMENT_LIMIT + 64 * 1024


@blueprint.url_value_preprocessor
def _statement_body(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Let a statement upload be larger than the portal's usual forms. URL value
    preprocessors run before any ``before_request`` (the CSRF check reads the body)."""
    if endpoint == "finance.import_statement":
        allow_body(STATEMENT_BODY)


def _words() -> dict[str, Any]:
    return {"PAYOUT_STATUS_NAMES": PAYOUT_STATUSES, "MATCH_NAMES": MATCH_METHODS}


def _list_page(
    form: StatementForm | None = None, problem: str | None = None, status: int = 200
) -> Response:
    database = db.session()
    shown = None
    statement_id = request.args.get("statement", type=int)
    if statement_id is not None:
        shown = by_id(database, BankStatement, statement_id)
    page = render_template(
        "finance/payouts.html",
        form=form or StatementForm(),
        problem=problem,
        payouts=payouts.payout_list(database),
        statements=payouts.recent_statements(database),
        waiting=payouts.waiting_deposits(database),
        shown=shown,
        already=request.args.get("already") == "1",
        **_words(),
    )
    return make_response(page, status)


@blueprint.get("/payouts")
@staff_required("finance")
def payouts_list() -> Response:
    """Every payout, those not yet ticked off against the bank first; the statement
    upload; the deposits no payout has claimed."""
    return _list_page()


@blueprint.post("/payouts/statements")
@staff_required("finance")
def import_statement() -> ResponseReturnValue:
    """Import a bank statement file, then show what it matched."""
    form = StatementForm()
    if not form.validate_on_submit():
        return _list_page(form, status=422)
    upload = form.statement.data
    data = upload.read(payouts.STATEMENT_LIMIT + 1)
    try:
        result = payouts.import_statement(db.session(), data, upload.filename or "", g.staff, g.now)
    except payouts.StatementError as error:
        status = 413 if error.problem == payouts.StatementProblem.TOO_LARGE else 422
        return _list_page(form, statement_problem(error.problem), status)
    return redirect(
        url_for(
            "finance.payouts_list",
            statement=result.statement.id,
            already="1" if result.already else "0",
        ),
        code=303,
    )


def _payout_page(
    payout_id: int,
    tick_form: TickOffForm | None = None,
    refusal: str | None = None,
    status: int = 200,
) -> Response:
    view = payouts.payout_view(db.session(), payout_id)
    if view is None:
        return problem_page(
            _("No such payout"),
            _("There is no payout number %(number)s.", number=payout_id),
            url_for("finance.payouts_list"),
            _("Back"),
            404,
        )
    page = render_template(
        "finance/payout.html",
        view=view,
        payout=view.payout,
        tick_form=tick_form or TickOffForm(formdata=None),
        choice_form=DepositChoiceForm(formdata=None),
        refusal=refusal,
        **_words(),
    )
    return make_response(page, status)


@blueprint.get("/payouts/<int:payout_id>")
@staff_required("finance")
def payout(payout_id: int) -> Response:
    """One payout: what it carried, their sum against it, and its bank deposit or the
    way to tick it off."""
    return _payout_page(payout_id)


def _found(payout_id: int) -> Payout | None:
    return by_id(db.session(), Payout, payout_id)


@blueprint.post("/payouts/<int:payout_id>/tick-off")
@staff_required("finance")
def tick_off(payout_id: int) -> ResponseReturnValue:
    """Tick a payout off by hand, from the statement a person holds."""
    found = _found(payout_id)
    if found is None:
        return _payout_page(payout_id)
    form = TickOffForm()
    if not form.validate_on_submit() or form.booking_date.data is None:
        return _payout_page(payout_id, form, status=422)
    try:
        payouts.tick_off(
            db.session(), found, form.booking_date.data, form.reference.data or "", g.staff, g.now
        )
    except payouts.TickOffError as error:
        return _payout_page(
            payout_id, form, refusal_text(error.reason), refusal_status(error.reason)
        )
    return redirect(url_for("finance.payout", payout_id=payout_id), code=303)


@blueprint.post("/payouts/<int:payout_id>/deposit")
@staff_required("finance")
def choose_deposit(payout_id: int) -> ResponseReturnValue:
    """Tick a payout off against an imported deposit a person chose."""
    found = _found(payout_id)
    if found is None:
        return _payout_page(payout_id)
    form = DepositChoiceForm()
    if not form.validate_on_submit() or form.deposit.data is None:
        return _payout_page(payout_id, refusal=_("Choose one of the listed deposits."), status=422)
    try:
        payouts.match_deposit(db.session(), found, form.deposit.data, g.staff, g.now)
    except payouts.TickOffError as error:
        return _payout_page(
            payout_id, refusal=refusal_text(error.reason), status=refusal_status(error.reason)
        )
    return redirect(url_for("finance.payout", payout_id=payout_id), code=303)
