"""``POST /webhooks/stripe``: the only route without CSRF, because Stripe signs it.

The signature over the raw body is verified before anything is parsed; a failure is a
400, writes nothing and counts against the sender's address (``portal.web.ratelimit``:
signed deliveries never count, however many come at once). Events are mapped by type;
the ones we do not act on are logged and acknowledged, so Stripe stops resending them.
An event we act on is recorded in the webhook inbox (one statement, deduplicated by its
id), acknowledged at once, and settled afterwards by a job
(``portal.payments.inbox.settle_job``, through ``portal.payments.events.handle``): Stripe
waits for the acknowledgement only, as its guidance asks.
"""

from __future__ import annotations

import logging

from flask import Blueprint, request

from portal.core import db, jobs
from portal.core.clock import now
from portal.payments.autopay import card_gone
from portal.payments.inbox import record, settle_job, waiting
from portal.payments.stripe_gateway import (
    SignatureError,
    StripeSettings,
    detached_method,
    gateway_event,
    verified_event,
)
from portal.web import ratelimit
from portal.web.security import WEBHOOK_BODY_LIMIT, allow_body, csrf_exempt

log = logging.getLogger(__name__)

blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@blueprint.post("/stripe")
@csrf_exempt
def stripe_webhook() -> tuple[dict[str, object], int]:
    """Verify one Stripe event, record it in the inbox and queue its settlement."""
    allow_body(WEBHOOK_BODY_LIMIT)
    settings = StripeSettings.from_config()
    if not settings.webhook_secret:
        log.error("stripe webhook received but STRIPE_WEBHOOK_SECRET is not set")
        # Nothing can verify: every delivery is a failure, and a flood of them is cut
        # short (with its error lines) like a flood of forged ones.
        ratelimit.count_failure("webhook")
        return {"error": "not configured"}, 503
    try:
        event = verified_event(
            settings, request.get_data(cache=False), request.headers.get("Stripe-Signature", "")
        )
    except SignatureError:
        log.warning("stripe webhook with a bad signature refused")
        # Only failures count against the address (portal.web.ratelimit): Stripe's
        # signed deliveries never do, however many come at once.
        ratelimit.count_failure("webhook")
        return {"error": "bad signature"}, 400
    gone = detached_method(event)
    if gone is not None:
        # A saved card removed at Stripe: autopay on it stops now, not at its next
        # charge. Idempotent (an ended card stays ended), so redeliveries are harmless.
        card_gone(db.session(), "stripe", gone, now())
        return {"received": True}, 200
    internal = gateway_event(event)
    if internal is None:
        log.info(
            "stripe event %s of type %s acknowledged, not acted on", event["id"], event.get("type")
        )
        return {"received": True}, 200
    moment = now()
    inbox_id = record(db.session(), internal, moment)
    # A redelivery queues nothing, unless its row has waited long enough that its first
    # job looks lost (or it was held): then it is queued again.
    queued = inbox_id if inbox_id is not None else waiting(db.session(), internal, moment)
    if queued is not None:
        # Sent once the view has returned, after the commit: settled by a worker with
        # Redis, in this process after the response without it.
        jobs.enqueue(settle_job, queued)
    return {"received": True, "duplicate": inbox_id is None}, 200
