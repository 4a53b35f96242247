"""Pre-approved offers in the agent console: the builder with its live preview, the
supervisors' approval queue, and the offers section of the case page.

Views parse, check, call one service function of ``portal.arrangements.offers``, and render
or redirect. The preview is one URL for two readers: htmx gets the fragment, a browser
without JavaScript (the "Preview" button) gets the whole builder page.

There is deliberately no way to show an agent an offer's link. A link carries the offer
to the borrower only inside a message, sent through the contact rules (quiet hours,
caps, opt-outs, holds, the borrower and no one else); a link shown on screen could be
pasted into any channel at any hour, past every one of those rules.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length

from negotiation import Frequency, PlanKind, Rejection, RejectionReason, Terms
from portal.arrangements import offers as service
from portal.cases import casefile
from portal.cases.facts import policy, snapshot_of
from portal.core import db
from portal.core.db import MAX_ID, by_id
from portal.core.i18n import gap, zoned_time
from portal.models import OPEN_OFFER_STATUSES, Case, Offer, OfferStatus, StaffMember
from portal.visits import service as visit_service
from portal.web.agent import blueprint, case_section
from portal.web.common.forms import (
    AmountField,
    DayField,
    Form,
    WholeNumberField,
    in_currency,
    optional,
)
from portal.web.common.fragments import respond, wants_fragment
from portal.web.staff.auth import staff_required
from portal.wording.agencies import beyond_agency_sentence
from portal.wording.engine import FREQUENCY_NAMES, KIND_NAMES, STAGE_NAMES, rejection_sentence

NOTE_LENGTH = 1000
# The flash categories of this module's notices: done, and why not.
FLASH = "offer"
FLASH_PROBLEM = "offer-problem"

# Words ----------------------------------------------------------------------------------

STATUS_NAMES = {
    "ready": _l("Ready to send"),
    "needs_approval": _l("Waiting for approval"),
    "declined": _l("Declined"),
    "withdrawn": _l("Withdrawn"),
    "accepted": _l("Accepted by the borrower"),
    "expired": _l("Expired"),
}

AUTHORITY_NAMES = {"agent": _l("Agent"), "supervisor": _l("Supervisor")}
HOLD_NAMES = {"hardship": _l("Hardship"), "dispute": _l("Dispute")}

BAR_SENTENCES = {
    service.Bar.DISPUTED: _l(
        "The borrower disputes this debt and the case is on hold: no offer can be made "
        "until the dispute is resolved."
    ),
    service.Bar.HAS_PLAN: _l(
        "The borrower already has a plan (accepted or active): no other offer can be taken "
        "up while it lasts."
    ),
}

REFUSAL_SENTENCES = {
    service.Refusal.NOT_WAITING: _l(
        "This offer has already been decided, withdrawn, accepted, or has expired."
    ),
    service.Refusal.EXPIRED: _l("This offer has expired and can no longer be approved."),
    service.Refusal.OWN_OFFER: _l(
        "You made this offer, so another supervisor must approve or decline it."
    ),
    service.Refusal.NOT_ALLOWED: _l("Only the offer's maker or a supervisor may do this."),
    service.Refusal.OUTSIDE_POLICY: _l(
        "The case has changed since the offer was made: its terms are now outside policy, "
        "so it cannot be approved."
    ),
    service.Refusal.BARRED: _l("The case has changed: no offer can be approved on it now."),
}

# The borrower's sentences say "this plan is not available" for these reasons: true, but
# an agent needs the limit itself to change the terms to.
AGENT_REASONS = {
    RejectionReason.PENALTY_WAIVER_TOO_HIGH: _l("The penalty waiver can be at most %(value)s."),
    RejectionReason.FEE_WAIVER_TOO_HIGH: _l("The fee waiver can be at most %(value)s."),
    RejectionReason.DISCOUNT_TOO_HIGH: _l("The settlement discount can be at most %(value)s."),
    RejectionReason.INTEREST_RATE_TOO_LOW: _l(
        "The plan's interest rate must be at least %(value)s a year."
    ),
}


def percent(value: Decimal) -> str:
    """A percentage as written on the page: 50%, 12.5%."""
    return f"{value.normalize():f}%"


def reason_sentence(rejection: Rejection, currency: str) -> str:
    """One reason an offer needs approval or is outside policy, with the limit to keep:
    the borrower's own sentence where it names the limit, the agent's where it does not."""
    wording = AGENT_REASONS.get(rejection.reason)
    if wording is not None and isinstance(rejection.nearest, Decimal):
        return str(wording) % {"value": percent(rejection.nearest)}
    if rejection.reason is RejectionReason.KIND_NOT_ALLOWED:
        return _("This kind of plan cannot be offered on this case.")
    return rejection_sentence(rejection, currency)


@blueprint.context_processor
def offer_wording() -> dict[str, Any]:
    """The words and helpers the offer templates use (named so as not to collide with
    the other sections' own)."""
    return {
        "OFFER_STATUS_NAMES": STATUS_NAMES,
        "OFFER_AUTHORITY_NAMES": AUTHORITY_NAMES,
        "OFFER_BARS": BAR_SENTENCES,
        "OFFER_KIND_NAMES": KIND_NAMES,
        "OFFER_STAGE_NAMES": STAGE_NAMES,
        "OFFER_HOLD_NAMES": HOLD_NAMES,
        "OFFER_FREQUENCY_NAMES": FREQUENCY_NAMES,
        "offer_reason": reason_sentence,
        "offer_time": zoned_time,
        "offer_percent": percent,
        "beyond_agency_sentence": beyond_agency_sentence,
    }


# Forms ----------------------------------------------------------------------------------


class PercentField(StringField):
    """A percentage from 0 to 100 with at most two decimals, read as an exact decimal
    (never a float); empty is 0."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = Decimal(0)
        text = unicodedata.normalize("NFKC", str(valuelist[0])).strip() if valuelist else ""
        text = text.removesuffix("%").strip()
        if not text:
            return
        message = _l("Enter a percentage from 0 to 100, like 50 or 12.5.")
        if not all(c.isdigit() or c == "." for c in text):
            raise ValueError(message)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(message) from None
        if not value.is_finite() or not 0 <= value <= 100:
            raise ValueError(message)
        if value != value.quantize(Decimal("0.01")):
            raise ValueError(_l("Use at most two digits after the decimal point."))
        self.data = value

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else f"{self.data.normalize():f}"


def _select(label: Any, names: dict[Any, Any]) -> SelectField:
    return SelectField(
        label,
        choices=[SelectChoice(key.value, value) for key, value in names.items()],
        validate_choice=False,
        validators=[
            InputRequired(message=_l("Choose one of the listed values.")),
            AnyOf([key.value for key in names], message=_l("Choose one of the listed values.")),
        ],
    )


class OfferForm(Form):
    """An offer's kind and parameters: exactly what the engine's ``Terms`` takes."""

    kind = _select(_l("Kind of plan"), KIND_NAMES)
    # Empty is one payment: the engine then says an installment plan needs two.
    installments = WholeNumberField(
        _l("Number of payments"), low=1, high=600, message=_l("Enter a number from 1 to 600.")
    )
    frequency = _select(_l("How often"), {Frequency(k): v for k, v in FREQUENCY_NAMES.items()})
    first_due_date = DayField(
        _l("First payment date"),
        validators=[InputRequired(message=_l("Enter a date like 2026-12-05."))],
    )
    down_payment = AmountField(_l("First payment amount (optional)"), validators=[optional()])
    penalty_waiver_pct = PercentField(_l("Penalties waived (%)"), default=Decimal(0))
    fee_waiver_pct = PercentField(_l("Fees waived (%)"), default=Decimal(0))
    settlement_discount_pct = PercentField(_l("Settlement discount (%)"), default=Decimal(0))
    interest_rate_pct = PercentField(_l("Plan interest rate (% a year)"), default=Decimal(0))

    def terms(self) -> Terms:
        """The validated form as the engine's terms."""
        assert self.first_due_date.data is not None  # validated  # noqa: S101
        return Terms(
            kind=PlanKind(self.kind.data),
            first_due_date=self.first_due_date.data,
            installments=self.installments.data or 1,
            frequency=Frequency(self.frequency.data),
            down_payment=self.down_payment.data,
            penalty_waiver_pct=self.penalty_waiver_pct.data,
            fee_waiver_pct=self.fee_waiver_pct.data,
            settlement_discount_pct=self.settlement_discount_pct.data,
            interest_rate_pct=self.interest_rate_pct.data,
        )


class ApproveForm(Form):
    """A supervisor's approval, with an optional note."""

    note = TextAreaField(
        _l("Approval note (optional)"),
        validators=[
            Length(max=NOTE_LENGTH, message=_l("Write at most 1,000 characters.")),
        ],
    )


class DeclineForm(Form):
    """A supervisor's refusal, always with the reason."""

    note = TextAreaField(
        _l("Why you decline it"),
        validators=[
            DataRequired(message=_l("Say why the offer is declined.")),
            Length(max=NOTE_LENGTH, message=_l("Write at most 1,000 characters.")),
        ],
    )


# Helpers ---------------------------------------------------------------------------------


def _case_or_404(case_id: int) -> Case:
    case = by_id(db.session(), Case, case_id)
    if case is None:
        abort(404)
    return case


def _offer_or_404(case_id: int, offer_id: int) -> Offer:
    """The offer, which must be the case's own: a tampered pair of ids gets a 404."""
    offer = None
    if case_id <= MAX_ID and offer_id <= MAX_ID:
        offer = service.case_offer(db.session(), case_id, offer_id)
    if offer is None:
        abort(404)
    return offer


def case_url(case_id: int) -> str:
    """The case page's offers section, or the builder while the console has no case page."""
    if "agent.case" in current_app.view_functions:
        return url_for("agent.case", case_id=case_id, section="offers", _anchor="offers")
    return url_for("agent.new_offer", case_id=case_id)


def _initial_form(case: Case, moment: datetime) -> OfferForm:
    """The builder's starting point: the plan borrowers pick most (the arrears over six
    payments at the loan's own frequency, from today) at the stage's own rate."""
    today = service.case_today(case, moment)
    snapshot = snapshot_of(db.session(), case, today)
    rules = policy().rules_for(policy().stage_for(snapshot.days_past_due))
    form = OfferForm(formdata=None, meta=in_currency(case.loan.currency))
    form.kind.data = PlanKind.ARREARS_PLAN.value
    form.installments.data = 6
    form.frequency.data = snapshot.frequency.value
    form.first_due_date.data = today
    form.interest_rate_pct.data = rules.plan_interest_rate_pct if rules else Decimal(0)
    return form


def _builder(
    case: Case, form: OfferForm, preview: service.Preview | None, status: int = 200
) -> Response:
    """The builder page, or (for htmx) only its preview."""
    moment: datetime = g.now
    context: dict[str, Any] = {
        "case": case,
        "form": form,
        "preview": preview,
        "back_url": case_url(case.id),
    }
    if wants_fragment():
        return respond(render_template("agent/_offer_preview.html", **context), status)
    today = service.case_today(case, moment)
    snapshot = snapshot_of(db.session(), case, today)
    context.update(
        snapshot=snapshot,
        stage=policy().stage_for(snapshot.days_past_due),
        limits=service.limits(db.session(), case, moment),
        active="agent.queue",
    )
    return respond(render_template("agent/offer_new.html", **context), status)


# The builder ------------------------------------------------------------------------------


@blueprint.route("/cases/<int:case_id>/offers/new", methods=["GET", "POST"])
@staff_required("agent")
def new_offer(case_id: int) -> Response:
    """The offer builder; posting it creates the offer (judged again, never trusting the
    preview)."""
    case = _case_or_404(case_id)
    database, member, moment = db.session(), g.staff, g.now
    if request.method == "GET":
        # Opening the builder shows the case's arrears: a view of the case, recorded.
        casefile.record_view(database, member, case, moment, page="offer_builder")
        form = _initial_form(case, moment)
        return _builder(case, form, service.preview(database, case, member, form.terms(), moment))
    form = OfferForm(meta=in_currency(case.loan.currency))
    if not form.validate_on_submit():
        return _builder(case, form, None, status=422)
    made = service.create_offer(database, case, member, form.terms(), moment)
    if made.offer is None:
        return _builder(case, form, made.preview, status=422)
    flash(_created_notice(made), FLASH)
    return redirect(case_url(case.id), code=303)


def _created_notice(made: service.Made) -> str:
    notice = _created_sentence(made)
    for number in made.replaced:
        notice += gap() + _("It replaces offer %(number)s, which is withdrawn.", number=number)
    return notice


def _created_sentence(made: service.Made) -> str:
    assert made.offer is not None  # noqa: S101
    number = made.offer.id
    if made.preview.by_supervisor:
        return _(
            "Offer %(number)s is ready to send, approved on your authority as a supervisor.",
            number=number,
        )
    if made.offer.status == OfferStatus.READY:
        return _("Offer %(number)s is ready to send.", number=number)
    return _("Offer %(number)s is waiting for a supervisor's approval.", number=number)


@blueprint.post("/cases/<int:case_id>/offers/preview")
@staff_required("agent")
def preview_offer(case_id: int) -> Response:
    """The schedule and the authority the builder's terms need, worked out now: the
    fragment for htmx, the whole builder without JavaScript. Changes nothing."""
    case = _case_or_404(case_id)
    form = OfferForm(meta=in_currency(case.loan.currency))
    if not form.validate_on_submit():
        # htmx swaps no 4xx answer: its fragment says what to correct with a 200.
        return _builder(case, form, None, status=200 if wants_fragment() else 422)
    preview = service.preview(db.session(), case, g.staff, form.terms(), g.now)
    return _builder(case, form, preview)


# Approval ---------------------------------------------------------------------------------


@blueprint.get("/approvals")
@staff_required("supervisor")
def approvals() -> Response:
    """Offers waiting for a supervisor, oldest first, each judged again today."""
    return _approvals_page()


def _approvals_page(
    status: int = 200,
    forms: dict[str, Form] | None = None,
    problems: dict[int, dict[str, Any]] | None = None,
) -> Response:
    items, count = service.approval_queue(db.session(), g.staff, g.now)
    forms = forms or {}
    # One pair of forms per offer, each field named (and its label tied) by the offer.
    for item in items:
        for kind, form_class in (("approve", ApproveForm), ("decline", DeclineForm)):
            prefix = f"{kind}-{item.offer.id}"
            forms.setdefault(prefix, form_class(formdata=None, prefix=prefix))
    page = render_template(
        "agent/approvals.html",
        items=items,
        count=count,
        forms=forms,
        problems=problems or {},
        visits=visit_service.waiting_approval(db.session()),
        active="agent.approvals",
    )
    return respond(page, status)


@blueprint.post("/cases/<int:case_id>/offers/<int:offer_id>/approve")
@staff_required("supervisor")
def approve_offer(case_id: int, offer_id: int) -> Response:
    """Approve an offer: it becomes ready to send, if the case still allows it."""
    return _decide(case_id, offer_id, "approve")


@blueprint.post("/cases/<int:case_id>/offers/<int:offer_id>/decline")
@staff_required("supervisor")
def decline_offer(case_id: int, offer_id: int) -> Response:
    """Decline an offer, saying why."""
    return _decide(case_id, offer_id, "decline")


def _decide(case_id: int, offer_id: int, kind: str) -> Response:
    """A supervisor's decision on an offer (``approve`` or ``decline``), with its note;
    back to the queue with what was done, or with why it could not be."""
    offer = _offer_or_404(case_id, offer_id)
    prefix = f"{kind}-{offer.id}"
    form = ApproveForm(prefix=prefix) if kind == "approve" else DeclineForm(prefix=prefix)
    if not form.validate_on_submit():
        return _approvals_page(422, forms={prefix: form})
    decide = service.approve if kind == "approve" else service.decline
    decided = decide(db.session(), offer, g.staff, g.now, form.note.data or "")
    if not decided.done:
        return _refused(decided, prefix, form)
    if kind == "approve":
        flash(_("Offer %(number)s is approved and ready to send.", number=offer.id), FLASH)
    else:
        flash(_("Offer %(number)s is declined.", number=offer.id), FLASH)
    return redirect(url_for("agent.approvals"), code=303)


def _refused(decided: service.Decided, prefix: str, form: Form) -> Response:
    """A decision that could not be made: 403 for one's own offer, 409 when the offer or
    the case changed; the queue again, the reason beside the offer, the note kept."""
    assert decided.refusal is not None  # noqa: S101
    offer = decided.offer
    # The offer's case exists: offers.case_id is a foreign key.
    currency = by_id(db.session(), Case, offer.case_id).loan.currency  # type: ignore[union-attr]
    message = str(REFUSAL_SENTENCES[decided.refusal])
    problem = {
        "message": message,
        "reasons": [reason_sentence(r, currency) for r in decided.reasons]
        + [str(BAR_SENTENCES[b]) for b in decided.bars],
    }
    status = 403 if decided.refusal is service.Refusal.OWN_OFFER else 409
    if decided.refusal in (service.Refusal.NOT_WAITING, service.Refusal.EXPIRED):
        # No longer in the queue: say so above it rather than beside it.
        flash(message, FLASH_PROBLEM)
        return _approvals_page(status)
    return _approvals_page(status, forms={prefix: form}, problems={offer.id: problem})


@blueprint.post("/cases/<int:case_id>/offers/<int:offer_id>/withdraw")
@staff_required("agent")
def withdraw_offer(case_id: int, offer_id: int) -> Response:
    """Withdraw an open offer (its maker, or a supervisor)."""
    offer = _offer_or_404(case_id, offer_id)
    member: StaffMember = g.staff
    if not service.may_withdraw(offer, member):
        return respond(render_template("staff/forbidden.html"), 403)
    decided = service.withdraw(db.session(), offer, member, g.now)
    if decided.done:
        flash(_("Offer %(number)s is withdrawn.", number=offer.id), FLASH)
    else:
        refusal = decided.refusal or service.Refusal.NOT_WAITING
        flash(str(REFUSAL_SENTENCES[refusal]), FLASH_PROBLEM)
    return redirect(case_url(case_id), code=303)


# The case page's section -----------------------------------------------------------------


@case_section(30, "agent/_case_offers.html", name="offers", label=_l("Offers"))
def offers_section(
    database: Any, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case's offers, newest first, each with its status now and (while it is open)
    its schedule as the borrower would see it today."""
    rows = []
    for offer in service.case_offers(database, case):
        status = service.effective_status(offer, moment)
        worked = None
        if status in OPEN_OFFER_STATUSES:
            worked = service.rejudged(database, case, offer, member, moment)
        rows.append({"offer": offer, "status": status, "preview": worked})
    return {
        "offers_panel": {
            "rows": rows,
            "case": case,
            "timezone": case.loan.borrower.timezone,
            "member": member,
            "is_supervisor": service.SUPERVISOR in member.role_set,
            "may_withdraw": lambda offer: service.may_withdraw(offer, member),
        }
    }
