"""Pages every console shares."""

from __future__ import annotations

from flask import Response, make_response, render_template


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
