"""Staff sign-in and sign-out, and the landing page that leads to each console."""

from __future__ import annotations

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal import db
from portal.clock import now
from portal.staff import accounts, auth
from portal.staff.accounts import SignInVerdict
from portal.staff.auth import safe_next, staff_required
from portal.staff.forms import SignInForm

blueprint = Blueprint("staff", __name__, url_prefix="/staff")

REFUSALS = {
    SignInVerdict.WRONG: lambda: _("The email or the password is wrong."),
    SignInVerdict.ACCOUNT_LIMITED: lambda: _(
        "Too many failed attempts for this email. Wait 15 minutes and try again."
    ),
    SignInVerdict.ADDRESS_LIMITED: lambda: _(
        "Too many failed attempts from this network. Wait an hour and try again."
    ),
}


def _sign_in_page(form: SignInForm, status: int = 200, problem: str | None = None) -> Response:
    page = render_template(
        "staff/sign_in.html",
        form=form,
        problem=problem,
        ended=request.args.get("ended") == "1",
        signed_out=request.args.get("signed_out") == "1",
    )
    return make_response(page, status)


@blueprint.get("/sign-in")
def sign_in() -> Response:
    """The sign-in form."""
    form = SignInForm(next=safe_next(request.args.get("next")) or "")
    return _sign_in_page(form)


@blueprint.post("/sign-in")
def sign_in_submit() -> Response:
    """Check the email and password; on success, a new session and the page asked for."""
    form = SignInForm()
    if not form.validate_on_submit():
        return _sign_in_page(form, 422)
    moment = now()
    result = accounts.sign_in(
        db.session(), form.email.data or "", form.password.data or "", _address(), moment
    )
    if result.verdict is not SignInVerdict.SIGNED_IN or result.member is None:
        status = 401 if result.verdict is SignInVerdict.WRONG else 429
        return _sign_in_page(form, status, REFUSALS[result.verdict]())
    auth.begin(result.member, moment)
    target = safe_next(form.next.data) or url_for("staff.home")
    return redirect(target, code=303)


def _address() -> str:
    # ProxyFix (configured by HAOHUAN_TRUSTED_PROXIES) has already put the client here.
    return request.remote_addr or ""


@blueprint.post("/sign-out")
def sign_out() -> Response:
    """End the session, and every copy of it."""
    auth.sign_out(db.session())
    return redirect(url_for("staff.sign_in", signed_out=1), code=303)


@blueprint.get("/")
@staff_required()
def home() -> Response:
    """Where a staff member lands: straight to the one console their roles open."""
    if "finance" in g.staff.role_set:
        return redirect(url_for("finance.overview"), code=303)
    return make_response(render_template("staff/home.html"))
