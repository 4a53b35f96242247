"""An agent's own figures at ``/reports/mine``: what the signed-in agent achieved over a
period of month pairs (the portfolio page's periods), from the same service as the
supervisors' table of agents (``portal.reporting.agents``), read for that agent alone.

Only the period is read from the query: a slice, an owner or any other name in it is
ignored, so no query shows one agent another's figures. Every view is audited.
"""

from __future__ import annotations

from flask import Response, g, render_template, request
from werkzeug.datastructures import MultiDict

from portal.audit import trail
from portal.core import db
from portal.finance.reports import finance_timezone
from portal.reporting import portfolio as service
from portal.reporting.agents import agents
from portal.web.common.fragments import respond
from portal.web.reports.filters import FIELD_LABELS, parse_choice
from portal.web.reports.words import PLAN_OUTCOMES, PROMISE_OUTCOMES, pair_name, whole
from portal.web.staff.auth import staff_blueprint, staff_required

blueprint = staff_blueprint("my_figures", __name__, url_prefix="/reports")

# The query's only fields here: the period.
PERIOD_KEYS = ("from", "to")
# No slice is offered here, so none is read.
NO_SLICES = service.SliceChoices([], [], [], [], [], [], [])


@blueprint.get("/mine")
@staff_required("agent")
def page() -> Response:
    """The signed-in agent's figures over the chosen month pairs' days (by default the
    last twelve)."""
    database = db.session()
    ends = service.month_ends(database)
    period_only = MultiDict({key: request.args[key] for key in PERIOD_KEYS if key in request.args})
    chosen, problems = parse_choice(period_only, ends, NO_SLICES)
    period, figures, row = chosen.period, None, None
    if period is not None:
        figures = agents(database, period.first, period.last, only=g.staff.id)
        row = figures.of(g.staff.id)
    html = render_template(
        "reports/mine.html",
        chosen=chosen,
        problems=problems,
        pairs=ends,
        figures=figures,
        row=row,
        zone=finance_timezone().key,
        active="my_figures.page",
        pair_name=pair_name,
        format_number=whole,
        FIELD_LABELS=FIELD_LABELS,
        PLAN_OUTCOMES=PLAN_OUTCOMES,
        PROMISE_OUTCOMES=PROMISE_OUTCOMES,
    )
    trail.record_read(database, g.staff, "reports.mine.view", g.now, filters=chosen.to_args())
    return respond(html)
