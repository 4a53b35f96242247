"""The front door: there is nothing to browse without a reminder link."""

from __future__ import annotations

from flask import Blueprint, render_template

blueprint = Blueprint("home", __name__)


@blueprint.get("/")
def index() -> str:
    """How to reach your case: through the link in your reminder, or by phone."""
    return render_template("home.html")
