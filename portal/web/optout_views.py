"""The borrower's opt-out pages: ``/opt-out/<token>``, the link every SMS and email
carries. Public (the signed token is the only key, and all it can do is stop messages).

GET shows a confirmation and changes nothing: mail scanners and link previews open
every link in a message, and must not opt anyone out. POST records the opt-out. A mail
client's one-click unsubscribe (RFC 8058) POSTs ``List-Unsubscribe=One-Click`` to the
same address with no cookie and no form: that exact body is accepted without the CSRF
token; any other POST needs it, as every form does.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
)

from negotiation.contact import Channel
from portal.cases.masking import mask_email, mask_phone
from portal.contact.gate import opted_out_channels
from portal.core import db
from portal.core.clock import now
from portal.core.db import by_id
from portal.core.i18n import speak_to
from portal.messaging import service
from portal.messaging.links import OptOutRequest, read_opt_out_token
from portal.models import Borrower
from portal.web.security import csrf, csrf_exempt

blueprint = Blueprint("optout", __name__)

ONE_CLICK = "One-Click"


def _borrower(token: str) -> tuple[OptOutRequest, Borrower]:
    """The opt-out a token names and its borrower; 404 for anything we did not sign."""
    wanted = read_opt_out_token(token)
    borrower = by_id(db.session(), Borrower, wanted.borrower_id) if wanted else None
    if wanted is None or borrower is None:
        abort(404)
    # The message was written in the borrower's language; its page answers in it too.
    speak_to(borrower.locale, borrower.loans[0].currency if borrower.loans else None)
    return wanted, borrower


def _page(template: str, wanted: OptOutRequest, borrower: Borrower, token: str) -> Response:
    if wanted.channel.is_chat:
        # A LINE or WeChat message's opt-out: its own words, naming the app, not an address.
        template = template.replace("optout/", "optout/chat_")
        address = ""
    elif wanted.channel is Channel.SMS:
        address = mask_phone(borrower.phone)
    else:
        address = mask_email(borrower.email)
    response = make_response(
        render_template(template, channel=wanted.channel.value, address=address, token=token)
    )
    # The token names a person: no search engine, no shared cache.
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@blueprint.get("/opt-out/<token>")
def confirm(token: str) -> Response:
    """Ask the borrower to confirm; changes nothing."""
    wanted, borrower = _borrower(token)
    if wanted.channel in opted_out_channels(db.session(), borrower.id):
        return _page("optout/done.html", wanted, borrower, token)
    return _page("optout/confirm.html", wanted, borrower, token)


@blueprint.post("/opt-out/<token>")
@csrf_exempt
def record(token: str) -> Response:
    """Record the opt-out (from our form, or a mail client's one-click request)."""
    one_click = request.form.get("List-Unsubscribe") == ONE_CLICK
    if not one_click and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    wanted, borrower = _borrower(token)
    service.opt_out(db.session(), borrower.id, wanted.channel, now(), source="link")
    return _page("optout/done.html", wanted, borrower, token)
