"""Partner agencies for supervisors: the agencies (made with a commission rate, the
letterhead rule and the offer authority the lender sets, within the policy's agent
authority), placing the queue's current filter (a segment) with one for a period, and
recalling an agency's cases. The services are ``portal.agencies``."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from flask import flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from portal.agencies import agencies as service
from portal.agencies import placement
from portal.cases import queue as queue_service
from portal.core import db
from portal.core.db import Session, by_id
from portal.models import Agency, Case, StaffMember
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.agent.offer_views import PercentField
from portal.web.agent.segment_views import NOT_SEGMENT
from portal.web.common.clock import console_zone
from portal.web.common.forms import DayField, Form, WholeNumberField
from portal.web.common.pages import problem_html
from portal.web.staff.auth import staff_required
from portal.wording.agencies import AGENCY_PROBLEMS, NOT_PLACED

FLASH = "agencies"


class AgencyForm(Form):
    """A new agency."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(message=_l("Give the agency a code.")), Length(max=32)],
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(message=_l("Give the agency's name.")), Length(max=120)],
    )
    commission_pct = PercentField(_l("Commission rate (percent of each payment)"))
    letterhead_allowed = BooleanField(_l("May print letters on the lender's letterhead"))
    max_installments = WholeNumberField(
        _l("Most installments its offers may have"),
        low=1,
        high=999,
        message=_l("Enter a whole number of installments, 1 or more."),
        validators=[DataRequired(message=_l("Enter a whole number of installments, 1 or more."))],
    )
    max_penalty_waiver_pct = PercentField(_l("Most of the penalties it may waive (percent)"))
    max_fee_waiver_pct = PercentField(_l("Most of the fees it may waive (percent)"))


class PlaceForm(Form):
    """Until when the segment is placed."""

    until = DayField(
        _l("Placed until (the last day, included)"),
        validators=[DataRequired(message=_l("Enter the placement's last day."))],
    )


def _segment(arguments: Any) -> tuple[queue_service.QueueFilter, list[str], dict[str, Any]]:
    values = {k: v for k, v in arguments.items() if k not in (*NOT_SEGMENT, "csrf_token", "until")}
    chosen, problems = queue_service.parse_filter(values)
    kept = {k: v for k, v in chosen.to_args().items() if k not in NOT_SEGMENT}
    return chosen, problems, kept


def _list_page(form: AgencyForm, status: int = 200) -> Response:
    database = db.session()
    chosen, problems, arguments = _segment(request.args)
    segment = queue_service.matching_cases(chosen, g.now, console_zone())
    page = render_template(
        "agent/agencies.html",
        agencies=service.all_agencies(database),
        live=placement.live_counts(database),
        form=form,
        bounds=service.agent_authority(),
        plan=placement.plan_placement(database, segment),
        arguments=arguments,
        problems=problems,
        place_form=PlaceForm(formdata=None),
        not_placed=NOT_PLACED,
        queue_url=url_for("agent.queue", **arguments),
        active="agent.agencies",
    )
    return make_response(page, status)


@blueprint.get("/agencies")
@staff_required("supervisor")
def agencies() -> Response:
    """The agencies, with what placing the queue's current filter would do."""
    return _list_page(AgencyForm(formdata=None, max_installments=1))


@blueprint.post("/agencies")
@staff_required("supervisor")
def create_agency() -> Response:
    """Make an agency; back to the list, or the form with what is wrong."""
    form = AgencyForm()
    if not form.validate_on_submit():
        return _list_page(form, 422)
    asked = service.NewAgency(
        code=(form.code.data or "").strip().upper(),
        name=form.name.data or "",
        commission_pct=form.commission_pct.data,
        letterhead_allowed=bool(form.letterhead_allowed.data),
        max_installments=int(form.max_installments.data or 0),
        max_penalty_waiver_pct=form.max_penalty_waiver_pct.data,
        max_fee_waiver_pct=form.max_fee_waiver_pct.data,
    )
    try:
        made = service.create_agency(db.session(), asked, g.staff, g.now)
    except service.AgencyError as error:
        form.code.errors = [str(AGENCY_PROBLEMS[p]) for p in error.problems]
        return _list_page(form, 422)
    flash(_("Agency %(code)s is ready to take cases.", code=made.code), FLASH)
    return redirect(url_for("agent.agencies"), code=303)


def _no_agency() -> Response:
    page = problem_html(
        _("No such agency"),
        _("There is no such agency."),
        url_for("agent.agencies"),
        _("Back to the agencies"),
    )
    return make_response(page, 404)


def _agency_or_none(agency_id: int) -> Agency | None:
    return by_id(db.session(), Agency, agency_id)


def _end_of(day: Any) -> datetime:
    """The placement's end: the start of the day after its last day, in the console's zone."""
    return datetime.combine(day + timedelta(days=1), time(0), console_zone())


@blueprint.post("/agencies/<int:agency_id>/place")
@staff_required("supervisor")
def place_segment(agency_id: int) -> Response:
    """Place every case the queue's filter selects (but those on hold, resolved or
    placed already) with the agency until the chosen day; back to the list with the
    counts."""
    agency = _agency_or_none(agency_id)
    if agency is None:
        return _no_agency()
    form = PlaceForm()
    chosen, problems, arguments = _segment(request.form)
    back = url_for("agent.agencies", **arguments)
    if problems:
        # The filter is not what the supervisor saw: nothing is placed on a guess.
        for problem in problems:
            flash(problem, FLASH)
        return redirect(back, code=303)
    if not form.validate_on_submit() or form.until.data is None:
        flash(_("Enter the placement's last day, today or later."), FLASH)
        return redirect(back, code=303)
    ends_at = _end_of(form.until.data)
    if ends_at <= g.now or not agency.active:
        flash(_("Enter the placement's last day, today or later."), FLASH)
        return redirect(back, code=303)
    segment = queue_service.matching_cases(chosen, g.now, console_zone())
    done = placement.place_segment(
        db.session(), agency, segment, ends_at, g.staff, g.now, arguments
    )
    flash(
        ngettext(
            "%(num)d case placed with %(code)s (%(held)s on hold and %(placed)s already"
            " placed stay as they are).",
            "%(num)d cases placed with %(code)s (%(held)s on hold and %(placed)s already"
            " placed stay as they are).",
            done.placing,
            code=agency.code,
            held=done.on_hold,
            placed=done.already_placed,
        ),
        FLASH,
    )
    return redirect(back, code=303)


@blueprint.post("/agencies/<int:agency_id>/recall")
@staff_required("supervisor")
def recall_agency(agency_id: int) -> Response:
    """Recall every case placed with the agency: its staff lose them at once."""
    agency = _agency_or_none(agency_id)
    if agency is None:
        return _no_agency()
    count = placement.recall_agency(db.session(), agency, g.staff, g.now)
    flash(
        ngettext(
            "%(num)d case recalled from %(code)s.",
            "%(num)d cases recalled from %(code)s.",
            count,
            code=agency.code,
        ),
        FLASH,
    )
    return redirect(url_for("agent.agencies"), code=303)


# The case page's section ------------------------------------------------------------------


@case_section(95, "agent/_case_agency.html", name="agency", label=_l("Agency"))
def agency_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """Whether the case is placed with a partner agency, which and until when; for a
    supervisor, the button that recalls it."""
    live = placement.placement_of(database, case.id)
    agency = placement.agency_named(database, live.agency_id) if live is not None else None
    return {
        "agency_panel": {
            "case": case,
            "placement": live,
            "agency": agency,
            "may_recall": "supervisor" in member.role_set and live is not None,
            "zone": console_zone().key,
        }
    }


@blueprint.post("/cases/<int:case_id>/placement/recall")
@staff_required("supervisor")
def recall_case(case_id: int) -> Response:
    """Recall the case from its agency by hand; back to the case's agency section."""
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    if placement.recall_case(db.session(), case, g.staff, g.now):
        flash(_("The case is recalled from its agency."), FLASH)
    return redirect(
        url_for("agent.case", case_id=case.id, section="agency", _anchor="agency-section"),
        code=303,
    )
