"""Staff sign-in (the password, then the one-time code when the account has one) and
sign-out, and the landing page that leads to each console."""

from __future__ import annotations

from datetime import datetime

from flask import (
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.core import db
from portal.core.clock import now
from portal.models import StaffMember
from portal.staff import accounts, totp
from portal.staff.accounts import SignInVerdict
from portal.web.staff import auth
from portal.web.staff.auth import open_to_all, safe_next, staff_blueprint, staff_required
from portal.web.staff.forms import CodeForm, EnrolForm, SetUpForm, SignInForm
from portal.web.staff.qr import qr_svg
from portal.wording.staff import account_refusal, password_refusal

blueprint = staff_blueprint("staff", __name__, url_prefix="/staff")

# Where each role lands after signing in, the first that applies.
CONSOLES = (
    ("agent", "agent.my_work"),
    ("finance", "finance.overview"),
    ("admin", "admin.audit"),
    ("field", "field.visits"),
    ("agency", "agent.queue"),
)

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


def _code_page(form: CodeForm, status: int = 200, problem: str | None = None) -> Response:
    page = render_template("staff/sign_in_code.html", form=form, problem=problem)
    return make_response(page, status)


@blueprint.get("/sign-in")
@open_to_all
def sign_in() -> Response:
    """The sign-in form."""
    form = SignInForm(next=safe_next(request.args.get("next")) or "")
    return _sign_in_page(form)


@blueprint.post("/sign-in")
@open_to_all
def sign_in_submit() -> Response:
    """Check the email and password; on success, a new session and the page asked for,
    or the code step when the account has a one-time code."""
    form = SignInForm()
    if not form.validate_on_submit():
        return _sign_in_page(form, 422)
    moment = now()
    result = accounts.sign_in(
        db.session(), form.email.data or "", form.password.data or "", _address(), moment
    )
    if result.verdict is not SignInVerdict.SIGNED_IN or result.member is None:
        status = 401 if result.verdict is SignInVerdict.WRONG else 429
        if result.verdict is SignInVerdict.NEEDS_CODE and result.member is not None:
            auth.await_code(result.member, moment)
            return _code_page(CodeForm(formdata=None, next=form.next.data or ""))
        if result.verdict is SignInVerdict.NEEDS_ENROLMENT and result.member is not None:
            auth.await_code(result.member, moment, enrol=True)
            return redirect(url_for("staff.enrol"), code=303)
        status = 401 if result.verdict is SignInVerdict.WRONG else 429
        _record_failure(form.email.data or "", result.verdict, moment)
        return _sign_in_page(form, status, REFUSALS[result.verdict]())
    return _begin(result.member, moment, form.next.data)


@blueprint.get("/sign-in/code")
@open_to_all
def sign_in_code() -> Response:
    """The code step again (after a reload), or back to the start when nothing waits."""
    if auth.awaiting_code(now()) is None:
        return redirect(url_for("staff.sign_in"), code=303)
    return _code_page(CodeForm(formdata=None, next=safe_next(request.args.get("next")) or ""))


@blueprint.post("/sign-in/code")
@open_to_all
def sign_in_code_submit() -> Response:
    """Check the one-time code of the account whose password was right; on success, a
    new session and the page asked for."""
    moment = now()
    pending = auth.awaiting_code(moment)
    if pending is None:
        auth.forget_code()
        return _sign_in_page(
            SignInForm(formdata=None), 401, _("Your sign-in took too long. Please start again.")
        )
    form = CodeForm()
    if not form.validate_on_submit():
        return _code_page(form, 422)
    member_id, generation = pending
    result = accounts.check_code(
        db.session(), member_id, generation, form.code.data or "", _address(), moment
    )
    if result.verdict is SignInVerdict.WRONG:
        _record_failure(result.member or member_id, result.verdict, moment, step="code")
        return _code_page(form, 401, _("The code is wrong or has already been used."))
    if result.verdict is not SignInVerdict.SIGNED_IN or result.member is None:
        # Over a limit: the waiting step goes, so the next try starts from the password.
        auth.forget_code()
        return _sign_in_page(SignInForm(formdata=None), 429, REFUSALS[result.verdict]())
    return _begin(result.member, moment, form.next.data)


def _record_failure(
    who: StaffMember | str | int, verdict: SignInVerdict, moment: datetime, step: str = "password"
) -> None:
    """A refused sign-in, in the audit log (committed by the account service)."""
    accounts.record_refused_sign_in(db.session(), who, verdict, moment, step)


def _begin(member: StaffMember, moment: datetime, target: str | None) -> Response:
    """A new session (recorded in the audit log), then the page asked for (on this
    site) or the landing page."""
    accounts.record_sign_in(db.session(), member, moment)
    auth.begin(member, moment)
    return redirect(safe_next(target) or url_for("staff.home"), code=303)


def _address() -> str:
    # ProxyFix (configured by HAOHUAN_TRUSTED_PROXIES) has already put the client here.
    return request.remote_addr or ""


@blueprint.post("/sign-out")
@open_to_all
def sign_out() -> Response:
    """End the session, and every copy of it (recorded in the audit log)."""
    auth.sign_out(db.session(), now())
    return redirect(url_for("staff.sign_in", signed_out=1), code=303)


@blueprint.get("/")
@staff_required()
def home() -> Response:
    """Where a staff member lands: straight to the one console their roles open."""
    roles = g.staff.role_set
    for role, endpoint in CONSOLES:
        if role in roles and endpoint in current_app.view_functions:
            return redirect(url_for(endpoint), code=303)
    return make_response(render_template("staff/home.html"))


# Enrolling a one-time code, and a new member's set-up link --------------------------------


def _enrol_page(
    member: StaffMember, form: EnrolForm, status: int = 200, problem: str = ""
) -> Response:
    secret = accounts.enrolment_secret(db.session(), member)
    uri = totp.provisioning_uri(secret, member.email)
    page = render_template(
        "staff/enrol.html",
        form=form,
        problem=problem,
        member=member,
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        uri=uri,
        qr=qr_svg(uri, _("QR code for your authenticator app")),
    )
    return make_response(page, status)


def _enrolling(moment: datetime) -> tuple[StaffMember, int] | None:
    pending = auth.awaiting_code(moment, enrol=True)
    if pending is None:
        return None
    member = db.session().get(StaffMember, pending[0])
    if member is None or not member.active or member.session_generation != pending[1]:
        return None
    return member, pending[1]


@blueprint.get("/sign-in/enrol")
@open_to_all
def enrol() -> Response:
    """After a right password (or a set-up link), for an account that must have one-time
    codes and has none yet: the secret to add to an authenticator app, and its first
    code to confirm it."""
    found = _enrolling(now())
    if found is None:
        return redirect(url_for("staff.sign_in"), code=303)
    return _enrol_page(found[0], EnrolForm(formdata=None))


@blueprint.post("/sign-in/enrol")
@open_to_all
def enrol_submit() -> Response:
    """Confirm the new secret with its first code; then the session begins."""
    moment = now()
    found = _enrolling(moment)
    if found is None:
        auth.forget_code()
        return _sign_in_page(
            SignInForm(formdata=None), 401, _("Your sign-in took too long. Please start again.")
        )
    member, generation = found
    form = EnrolForm()
    if not form.validate_on_submit():
        return _enrol_page(member, form, 422)
    result = accounts.confirm_enrolment(
        db.session(), member.id, generation, form.code.data or "", _address(), moment
    )
    if result.verdict is SignInVerdict.WRONG:
        _record_failure(member.id, result.verdict, moment, step="enrol")
        return _enrol_page(
            member, form, 401, _("That code does not match: check the app and try the next one.")
        )
    if result.verdict is not SignInVerdict.SIGNED_IN or result.member is None:
        auth.forget_code()
        return _sign_in_page(SignInForm(formdata=None), 429, REFUSALS[result.verdict]())
    return _begin(result.member, moment, None)


@blueprint.get("/set-up/<set_up_token>")
@open_to_all
def set_up(set_up_token: str) -> Response:
    """A new member's set-up link: the form for their password (opening it changes
    nothing, so a link scanner's visit does not spend it)."""
    link = accounts.open_set_up_link(db.session(), set_up_token, now())
    if link is None:
        return _set_up_gone()
    member = db.session().get(StaffMember, link.staff_id)
    return make_response(
        render_template("staff/set_up.html", form=SetUpForm(formdata=None), member=member)
    )


@blueprint.post("/set-up/<set_up_token>")
@open_to_all
def set_up_submit(set_up_token: str) -> Response:
    """Set the password (the link is then spent), then enrol a one-time code."""
    moment = now()
    database = db.session()
    link = accounts.open_set_up_link(database, set_up_token, moment)
    if link is None:
        return _set_up_gone()
    member = database.get(StaffMember, link.staff_id)
    form = SetUpForm()
    if not form.validate_on_submit():
        page = render_template("staff/set_up.html", form=form, member=member)
        return make_response(page, 422)
    try:
        member = accounts.complete_set_up(database, set_up_token, form.password.data or "", moment)
    except accounts.WeakPasswordError as error:
        form.password.errors = [password_refusal(error.problem)]
        page = render_template("staff/set_up.html", form=form, member=member)
        return make_response(page, 422)
    except accounts.AccountError:
        return _set_up_gone()
    auth.end()
    auth.await_code(member, moment, enrol=True)
    return redirect(url_for("staff.enrol"), code=303)


def _set_up_gone() -> Response:
    page = render_template("staff/set_up_gone.html", reason=account_refusal("link_invalid"))
    return make_response(page, 404)
