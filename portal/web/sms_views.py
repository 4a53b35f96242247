"""``POST /webhooks/sms/inbound``: SMS borrowers send us, from the SMS provider
(``portal.messaging.inbound`` says what a reply does).

Public and without CSRF, because the provider signs it: Twilio's ``X-Twilio-Signature``
over the URL and the form, with ``SMS_INBOUND_AUTH_TOKEN``, is checked before anything
is acted on. A forged or missing signature is refused (403), changes nothing and counts
against the sender's address (``portal.web.ratelimit``), as the other webhooks' do.
Without the token the address does not exist (404).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, current_app, make_response, request

from portal.core import db
from portal.core.clock import now
from portal.messaging import inbound
from portal.web import ratelimit
from portal.web.security import allow_body, csrf_exempt

log = logging.getLogger(__name__)

blueprint = Blueprint("sms_inbound", __name__, url_prefix="/webhooks/sms")

# Twilio's inbound form: a few dozen short fields, media URLs and a body of up to 1,600
# characters (14 KiB of Chinese, percent-encoded). 64 KiB is ample.
SMS_BODY_LIMIT = 64 * 1024
# Twilio needs no answer to send: an empty TwiML document. The carrier (or Twilio's
# Advanced Opt-Out) already answers the standard keywords with its own confirmation, and
# a second reply from us would be one more message to someone who asked for none.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@blueprint.url_value_preprocessor
def _body_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """The webhook's own, smaller, body limit. Set here: URL value preprocessors run
    before any ``before_request``, and one of those (the language switch) reads a form."""
    allow_body(SMS_BODY_LIMIT)


@blueprint.post("/inbound")
@csrf_exempt
def inbound_sms() -> Response:
    """Verify one inbound SMS and act on it once (a stop keyword opts out of SMS)."""
    token = str(current_app.config.get("SMS_INBOUND_AUTH_TOKEN") or "")
    if not token:
        abort(404)
    form = request.form
    signature = request.headers.get("X-Twilio-Signature", "")
    if not inbound.twilio_signed(token, request.url, form.items(multi=True), signature):
        log.warning("inbound SMS with a bad signature refused")
        ratelimit.count_failure("webhook")
        abort(403)
    sid = form.get("MessageSid", "") or form.get("SmsSid", "")
    if sid and len(sid) <= 64:
        inbound.receive(db.session(), sid, form.get("From", ""), form.get("Body", ""), now())
    response = make_response(EMPTY_TWIML, 200)
    response.mimetype = "text/xml"
    return response
