"""The policy pages of the admin console: the version in force and the way to change it
(the keys changed most, or the whole override file), a version's changes key by key
with the checker's approve and reject, and the history. Maker-checker and every other
rule live in ``portal.policy.versions``; the views parse, call it, and render."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from flask import Response, g, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from negotiation import PolicyChange
from portal.cases import facts
from portal.core import db
from portal.models import PolicyVersion, PolicyVersionStatus
from portal.policy import versions
from portal.web.admin import blueprint
from portal.web.admin.policy_forms import ApproveForm, PolicyTextForm, PolicyValuesForm, RejectForm
from portal.web.common.pages import problem_page
from portal.web.staff.auth import staff_required
from portal.wording import policy as words


def policy_value(value: Any) -> str:
    """A policy value as the diff shows it: lists joined, nothing as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(policy_value(item) for item in value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


@blueprint.app_template_global("policy_key_label")
def _policy_key_label(key: str) -> str | None:
    return words.key_label(key)


def _context() -> dict[str, Any]:
    return {
        "policy_value": policy_value,
        "STATUS_NAMES": words.STATUS_NAMES,
        "PolicyVersionStatus": PolicyVersionStatus,
    }


def _overview(
    values_form: PolicyValuesForm | None = None,
    text_form: PolicyTextForm | None = None,
    refusal: str | None = None,
    status: int = 200,
) -> Response:
    database = db.session()
    current = versions.in_force(database)
    if values_form is None:
        values_form = PolicyValuesForm(formdata=None)
        values_form.fill(versions.in_force_values(database))
    if text_form is None:
        text_form = PolicyTextForm(formdata=None)
        text_form.toml.data = current.override_toml if current else ""
    page = render_template(
        "admin/policy.html",
        current=current,
        proposal=versions.open_proposal(database),
        values_form=values_form,
        text_form=text_form,
        refusal=refusal,
        **_context(),
    )
    return make_response(page, status)


@blueprint.get("/policy")
@staff_required("admin")
def policy_overview() -> Response:
    """The version in force, a proposal waiting for a checker, and the forms to propose."""
    facts.policy_version()  # records the configured file as version 1 when none is
    return _overview()


def _waiting() -> Response | None:
    """The page refusing a new proposal while one waits (its forms are not shown then)."""
    if versions.open_proposal(db.session()) is None:
        return None
    refused = versions.PolicyChangeError(versions.Refusal.OPEN_PROPOSAL)
    return _overview(refusal=words.refusal_text(refused), status=409)


def _proposed(row: PolicyVersion) -> ResponseReturnValue:
    return redirect(url_for("admin.policy_version", number=row.version), code=303)


@blueprint.post("/policy/propose")
@staff_required("admin")
def propose_values() -> ResponseReturnValue:
    """Propose the version in force with the keys of the form changed."""
    facts.policy_version()  # records the configured file as version 1 when none is
    form = PolicyValuesForm()
    database = db.session()
    waiting = _waiting()
    if waiting is not None:
        return waiting
    if not form.validate():
        return _overview(values_form=form, status=422)
    try:
        row = versions.propose_values(
            database,
            form.values(versions.in_force_values(database)),
            form.reason.data or "",
            g.staff,
            g.now,
        )
    except versions.PolicyChangeError as error:
        return _overview(
            values_form=form, refusal=words.refusal_text(error), status=words.refusal_status(error)
        )
    return _proposed(row)


@blueprint.post("/policy/propose-file")
@staff_required("admin")
def propose_file() -> ResponseReturnValue:
    """Propose a whole override file."""
    facts.policy_version()  # records the configured file as version 1 when none is
    form = PolicyTextForm()
    waiting = _waiting()
    if waiting is not None:
        return waiting
    if not form.validate():
        return _overview(text_form=form, status=422)
    try:
        row = versions.propose(
            db.session(), form.toml.data or "", form.reason.data or "", g.staff, g.now
        )
    except versions.PolicyChangeError as error:
        return _overview(
            text_form=form, refusal=words.refusal_text(error), status=words.refusal_status(error)
        )
    return _proposed(row)


def _no_such_version() -> Response:
    return problem_page(
        str(words.REFUSALS[versions.Refusal.NO_SUCH_VERSION]),
        str(words.REFUSALS[versions.Refusal.NO_SUCH_VERSION]),
        url_for("admin.policy_history"),
        str(words.HISTORY_LINK),
    )


def _version_page(
    row: PolicyVersion,
    approve_form: ApproveForm | None = None,
    reject_form: RejectForm | None = None,
    refusal: str | None = None,
    status: int = 200,
) -> Response:
    database = db.session()
    found: Sequence[PolicyChange] = versions.changes_of(database, row)
    page = render_template(
        "admin/policy_version.html",
        row=row,
        changes=found,
        base=versions.version(database, row.based_on) if row.based_on else None,
        approve_form=approve_form or ApproveForm(formdata=None),
        reject_form=reject_form or RejectForm(formdata=None),
        refusal=refusal,
        own=row.made_by.casefold() == g.staff.email.casefold(),
        **_context(),
    )
    # Reading what a version changes is recorded, after the read.
    versions.record_view(database, g.staff, row.version, g.now)
    return make_response(page, status)


@blueprint.get("/policy/<int:number>")
@staff_required("admin")
def policy_version(number: int) -> Response:
    """One version: what it changes key by key (old → new), its file, who made and
    checked it; for a proposal, the checker's approve and reject."""
    facts.policy_version()  # records the configured file as version 1 when none is
    row = versions.version(db.session(), number)
    if row is None:
        return _no_such_version()
    return _version_page(row)


def _checked(number: int, approving: bool) -> ResponseReturnValue:
    database = db.session()
    row = versions.version(database, number)
    if row is None:
        return _no_such_version()
    form: ApproveForm | RejectForm = ApproveForm() if approving else RejectForm()
    forms: dict[str, Any] = {"approve_form" if approving else "reject_form": form}
    if not form.validate():
        return _version_page(row, **forms, status=422)
    try:
        if approving:
            versions.approve(database, number, g.staff, g.now, form.note.data)
            facts.forget_policy()
        else:
            versions.reject(database, number, g.staff, g.now, form.note.data)
    except versions.PolicyChangeError as error:
        return _version_page(
            row, **forms, refusal=words.refusal_text(error), status=words.refusal_status(error)
        )
    return redirect(url_for("admin.policy_version", number=number), code=303)


@blueprint.post("/policy/<int:number>/approve")
@staff_required("admin")
def approve_version(number: int) -> ResponseReturnValue:
    """Approve a proposal: it is in force at once (refused for its own maker)."""
    facts.policy_version()  # records the configured file as version 1 when none is
    return _checked(number, approving=True)


@blueprint.post("/policy/<int:number>/reject")
@staff_required("admin")
def reject_version(number: int) -> ResponseReturnValue:
    """Reject a proposal, saying why (refused for its own maker)."""
    facts.policy_version()  # records the configured file as version 1 when none is
    return _checked(number, approving=False)


@blueprint.get("/policy/history")
@staff_required("admin")
def policy_history() -> Response:
    """Every version, newest first, with who made it and who checked it."""
    facts.policy_version()  # records the configured file as version 1 when none is
    database = db.session()
    rows = versions.history(database)
    page = render_template("admin/policy_history.html", rows=rows, **_context())
    return make_response(page)
