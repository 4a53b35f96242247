"""Pages every console shares."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask, Response, before_render_template, make_response, render_template
from jinja2 import Template
from wtforms import Form


def problem_html(heading: str, message: str, back_url: str, back_label: str) -> str:
    """The consoles' page for something that cannot be shown (no such case, message,
    payment...): what went wrong, and the way back."""
    return render_template(
        "staff/problem.html",
        heading=heading,
        message=message,
        back_url=back_url,
        back_label=back_label,
    )


def problem_page(
    heading: str, message: str, back_url: str, back_label: str, status: int = 404
) -> Response:
    """``problem_html`` as a response with ``status``."""
    return make_response(problem_html(heading, message, back_url, back_label), status)


def _forms_in(value: object, depth: int = 3) -> Iterator[Form]:
    """The forms in a template's context: given directly, or inside the dicts a view
    groups a section's values in (``move["form"]``, ``calls_panel["form"]``)."""
    if isinstance(value, Form):
        yield value
    elif isinstance(value, Mapping) and depth:
        for inner in value.values():
            yield from _forms_in(inner, depth - 1)


def _mark_form_errors(
    sender: Flask, template: Template, context: dict[str, Any], **extra: object
) -> None:
    """``form_errors`` for base.html: a page showing a form's errors says "Error" first in
    its title, so the first thing a screen reader announces is that it went wrong."""
    # Looked for only when the view has not said (a page with no form may say False).
    if "form_errors" not in context:
        context["form_errors"] = any(form.errors for form in _forms_in(context))


def init_app(app: Flask) -> None:
    """Tell every page whether it shows a form with errors."""
    before_render_template.connect(_mark_form_errors, app)
