"""The case queue and the case page (routes of the ``agent`` blueprint)."""

from __future__ import annotations

from flask import Response, make_response, render_template

from portal.agents import blueprint
from portal.staff.auth import staff_required


@blueprint.get("/")
@staff_required("agent")
def queue() -> Response:
    """The case queue."""
    return make_response(render_template("agent/queue.html", active="agent.queue"))
