"""LINE and WeChat: the borrower's linking and unlinking (under their verified session,
from the contact page), and the platforms' webhooks that confirm a link or end one
(``portal.messaging.chat`` says how).

The webhooks are public, verified before anything is read: LINE's ``X-Line-Signature``
(HMAC-SHA256 of the body with the channel secret), WeChat's ``signature`` (SHA1 of our
token, the timestamp and the nonce). A forged or missing signature is refused (403),
changes nothing and counts against the sender's address; unknown events are
acknowledged and ignored.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import BooleanField
from wtforms.validators import DataRequired

from negotiation.contact import Channel
from portal.core import db
from portal.core.clock import now
from portal.messaging import chat
from portal.messaging.qr import qr_svg
from portal.web import ratelimit
from portal.web.borrower.session import borrower_required
from portal.web.common.forms import Form
from portal.web.common.fragments import respond
from portal.web.security import WEBHOOK_BODY_LIMIT, allow_body, csrf_exempt

log = logging.getLogger(__name__)

blueprint = Blueprint("chat", __name__)

CHANNELS = {"line": Channel.LINE, "wechat": Channel.WECHAT}
# A WeChat server message is a few hundred bytes of XML.
WECHAT_BODY_LIMIT = 16 * 1024


class ChatConsentForm(Form):
    """The borrower's explicit consent to reminders on a chat app."""

    consent = BooleanField(
        _l(
            "I agree to receive reminders about my account on this app. They say no "
            "amount, and I can stop them at any time."
        ),
        validators=[DataRequired(message=_l("Please confirm that you agree."))],
    )


def _channel(name: str) -> Channel:
    found = CHANNELS.get(name)
    if found is None:
        abort(404)
    return found


def line_message_url(token: str) -> str:
    """The link that opens our LINE official account with the linking token typed in
    (LINE's ``oaMessage`` URL scheme): the borrower only presses send."""
    from urllib.parse import quote

    base = str(
        current_app.config.get("LINE_MESSAGE_URL") or "https://line.me/R/oaMessage/@haohuan/"
    )
    return base.rstrip("/") + "/?" + quote(token, safe="")


@blueprint.post("/contact/chat/<name>/link")
@borrower_required
def link(name: str) -> Response:
    """Record the consent and show the one-time link and code to send from the app."""
    from flask import render_template

    channel = _channel(name)
    form = ChatConsentForm()
    if not form.validate_on_submit():
        return respond(
            render_template("borrower/chat_consent.html", form=form, channel=channel.value), 422
        )
    terms = str(current_app.config.get("CHAT_TERMS_VERSION") or "2026-12")
    token = chat.request_link(db.session(), g.case, channel, g.now, terms)
    url = line_message_url(token) if channel is Channel.LINE else None
    # The link as a QR code too: scanned with LINE's own reader (or from a computer's
    # screen), it opens the same chat with the token typed in. WeChat's is a parametric
    # QR code of our account, which WeChat makes for us (none with the outbox).
    content = url or chat.wechat_scene_qr(current_app.extensions["haohuan.messaging"].wechat, token)
    # qr_svg escapes the label; the rest is numbers it wrote itself.
    qr = Markup(qr_svg(content, str(_l("QR code of the link")))) if content else None  # noqa: S704
    response = respond(
        render_template(
            "borrower/chat_link.html", channel=channel.value, token=token, url=url, qr=qr
        ),
        200,
    )
    # The token links an app account to this borrower: never cached anywhere.
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/contact/chat/<name>/link")
@borrower_required
def consent(name: str) -> Response:
    """Ask for the consent (the contact page's button leads here)."""
    from flask import render_template

    channel = _channel(name)
    return respond(
        render_template(
            "borrower/chat_consent.html", form=ChatConsentForm(), channel=channel.value
        ),
        200,
    )


@blueprint.post("/contact/chat/<name>/unlink")
@borrower_required
def unlink(name: str) -> Response:
    """One click: no more messages on the app."""
    channel = _channel(name)
    form = Form()
    if not form.validate_on_submit():
        abort(400)
    chat.unlink(db.session(), g.case.loan.borrower_id, channel, g.now)
    return redirect(url_for("borrower.contact_choices", saved=1), code=303)  # type: ignore[return-value]


# The platforms' webhooks ------------------------------------------------------------------


def _refused() -> tuple[dict[str, str], int]:
    ratelimit.count_failure("webhook")
    return {"error": "bad signature"}, 403


@blueprint.post("/chat/line/link")
@csrf_exempt
def line_webhook() -> tuple[dict[str, Any], int]:
    """LINE's webhook: a message carrying a linking token (or an ``accountLink`` event
    with it as the nonce) links the account that sent it; ``unfollow`` unlinks it."""
    allow_body(WEBHOOK_BODY_LIMIT)
    body = request.get_data(cache=False)
    secret = str(current_app.config.get("LINE_CHANNEL_SECRET") or "")
    if not chat.line_signed(secret, body, request.headers.get("X-Line-Signature", "")):
        log.warning("LINE webhook with a bad signature refused")
        return _refused()
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"error": "not JSON"}, 400
    events = payload.get("events") if isinstance(payload, dict) else None
    moment = now()
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict):
            _line_event(event, moment)
    return {"received": True}, 200


def _line_event(event: dict[str, Any], moment: Any) -> None:
    source = event.get("source")
    user = source.get("userId") if isinstance(source, dict) else None
    if not isinstance(user, str) or not user:
        return
    kind = event.get("type")
    session = db.session()
    if kind == "unfollow":
        chat.unlink_account(session, Channel.LINE, user, moment)
        return
    token = None
    if kind == "message":
        message = event.get("message")
        if isinstance(message, dict) and message.get("type") == "text":
            token = str(message.get("text") or "").strip()
    elif kind == "accountLink":
        found = event.get("link")
        if isinstance(found, dict) and found.get("result") == "ok":
            token = str(found.get("nonce") or "")
    if token:
        chat.confirm_link(session, Channel.LINE, token, user, moment)


@blueprint.get("/chat/wechat/link")
def wechat_verify() -> Response:
    """WeChat's server verification: the ``echostr`` back when the signature holds."""
    if not _wechat_signed():
        ratelimit.count_failure("webhook")
        abort(403)
    echo = request.args.get("echostr", "")[:128]
    response = make_response(echo, 200)
    response.mimetype = "text/plain"
    return response


def _wechat_signed() -> bool:
    args = request.args
    return chat.wechat_signed(
        str(current_app.config.get("WECHAT_TOKEN") or ""),
        args.get("timestamp", ""),
        args.get("nonce", ""),
        args.get("signature", ""),
        now(),
    )


@blueprint.post("/chat/wechat/link")
@csrf_exempt
def wechat_webhook() -> Response:
    """WeChat's server messages: a text carrying a linking token, or a parametric QR
    code's ``subscribe``/``SCAN`` event with it as the scene, links the openid that sent
    it; ``unsubscribe`` unlinks it. Answered ``success``, as WeChat asks."""
    allow_body(WECHAT_BODY_LIMIT)
    if not _wechat_signed():
        log.warning("WeChat message with a bad signature refused")
        ratelimit.count_failure("webhook")
        abort(403)
    # Loaded here: a web worker that never hears from WeChat does not carry it.
    from xml.etree import ElementTree

    body = request.get_data(cache=False)
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        # WeChat never sends a DTD; entities are how an XML bomb starts.
        abort(400)
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 (signed, no DTD, 16 KiB at most)
    except ElementTree.ParseError:
        abort(400)
    fields = {child.tag: (child.text or "").strip() for child in root}
    openid = fields.get("FromUserName", "")
    moment = now()
    session = db.session()
    kind, event = fields.get("MsgType"), fields.get("Event", "").lower()
    if openid and kind == "event" and event == "unsubscribe":
        chat.unlink_account(session, Channel.WECHAT, openid, moment)
    elif openid and kind == "event" and event in ("subscribe", "scan"):
        scene = fields.get("EventKey", "").removeprefix("qrscene_")
        if scene:
            chat.confirm_link(session, Channel.WECHAT, scene, openid, moment)
    elif openid and kind == "text":
        chat.confirm_link(session, Channel.WECHAT, fields.get("Content", ""), openid, moment)
    response = make_response("success", 200)
    response.mimetype = "text/plain"
    return response
