"""LINE and WeChat as message channels: the providers against local HTTP servers (the
request's shape, a failed send that never doubles), linking with consent from the
portal and the platforms' signed webhooks (a forged signature changes nothing), and
the same contact gate as SMS (refused at night and after an opt-out; never to a
borrower who has not linked the app)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from negotiation.contact import Channel, ContactRefusal
from portal.core import db
from portal.messaging import chat, service
from portal.messaging.providers import LinePush, SendError, SendFailure, WechatTemplate, from_config
from portal.models import Case, CaseEvent, ChatAccount, ContactAttempt, Message, OptOut

from .factories import NOW, build_case, sign_in

LINE_SECRET = "line-channel-secret"
WECHAT_TOKEN = "wechat-server-token"
USER_ID = "U4af4980629d8e1b1a2b3c4d5e6f7a8b9"
OPENID = "oWx1u5c2d3e4f5g6h7i8j9k0l1m2"


class ChatStub(BaseHTTPRequestHandler):
    """Answers as LINE's push endpoint or WeChat's API do; the test sets ``answers``
    (one per request, the last repeated) and reads ``requests``."""

    requests: list
    answers: list

    def _answer(self, body: bytes) -> None:
        type(self).requests.append((self.command, self.path, dict(self.headers), body))
        answers = type(self).answers
        status, payload, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self):
        self._answer(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):
        if self.path.startswith("/cgi-bin/token"):
            type(self).requests.append((self.command, self.path, dict(self.headers), b""))
            raw = json.dumps({"access_token": "ACCESS-TOKEN-1", "expires_in": 7200}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return
        self._answer(b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    handler = type("Handler", (ChatStub,), {"requests": [], "answers": [(200, {}, {})]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def use_http_chat(app, server):
    base = f"http://127.0.0.1:{server.server_port}"
    app.config.update(
        LINE_PROVIDER="http",
        LINE_API_URL=base,
        LINE_CHANNEL_TOKEN="line-access-token",
        LINE_CHANNEL_SECRET=LINE_SECRET,
        WECHAT_PROVIDER="http",
        WECHAT_API_URL=base,
        WECHAT_APP_ID="wx123",
        WECHAT_APP_SECRET="wechat-app-secret",
        WECHAT_TEMPLATE_ID="TEMPLATE-1",
        WECHAT_TOKEN=WECHAT_TOKEN,
    )
    app.extensions["haohuan.messaging"] = from_config(app.config)


def line_post(client, events, secret=LINE_SECRET):
    body = json.dumps({"destination": "Uabc", "events": events}).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return client.post(
        "/chat/line/link",
        data=body,
        headers={"X-Line-Signature": signature.decode(), "Content-Type": "application/json"},
    )


def wechat_post(client, xml, token=WECHAT_TOKEN, timestamp=None):
    timestamp = timestamp or str(int(NOW.timestamp()))
    nonce = "12345"
    signature = hashlib.sha1(  # noqa: S324 (WeChat's own scheme)
        "".join(sorted([token, timestamp, nonce])).encode()
    ).hexdigest()
    query = f"signature={signature}&timestamp={timestamp}&nonce={nonce}"
    return client.post(f"/chat/wechat/link?{query}", data=xml.encode(), content_type="text/xml")


def wechat_text(openid, content):
    return (
        f"<xml><ToUserName>gh_1</ToUserName><FromUserName>{openid}</FromUserName>"
        f"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>{content}</Content></xml>"
    )


def link_token(app, built, channel="line"):
    """The borrower, signed in, agrees on the contact page and receives a token."""
    client = app.test_client()
    sign_in(client, built)
    assert client.get("/contact").status_code == 200
    assert client.get(f"/contact/chat/{channel}/link").status_code == 200
    with app.app_context():
        before = db.session().scalar(select(func.count(ChatAccount.id)))
    refused = client.post(f"/contact/chat/{channel}/link", data={})
    assert refused.status_code == 422  # no consent ticked: nothing recorded
    with app.app_context():
        assert db.session().scalar(select(func.count(ChatAccount.id))) == before
    page = client.post(f"/contact/chat/{channel}/link", data={"consent": "y"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    [token] = re.findall(r'<p class="code">([A-Za-z0-9_-]{40,})</p>', html)
    if channel == "line":
        # The link, and the same link as a QR code that LINE's reader opens.
        [url] = re.findall(r'href="(https://line\.me/R/oaMessage/[^"]+)"', html)
        assert url.endswith("/?" + token)
        assert '<svg xmlns="http://www.w3.org/2000/svg"' in html
        assert decoded_qr(url) == url
    return client, token


def decoded_qr(value):
    """``value`` drawn as the page's QR code draws it, read back by a real decoder."""
    import numpy
    import zxingcpp

    from portal.messaging.qr import QUIET_ZONE, modules

    grid = modules(value)
    side = len(grid) + 2 * QUIET_ZONE
    image = numpy.full((side, side), 255, dtype=numpy.uint8)
    for row, line in enumerate(grid):
        for col, dark in enumerate(line):
            if dark:
                image[row + QUIET_ZONE, col + QUIET_ZONE] = 0
    image = image.repeat(8, axis=0).repeat(8, axis=1)
    [found] = zxingcpp.read_barcodes(image)
    return found.text


def linked_line(app, built):
    client, token = link_token(app, built)
    message = {"type": "text", "id": "1", "text": token}
    event = {"type": "message", "source": {"type": "user", "userId": USER_ID}, "message": message}
    assert line_post(app.test_client(), [event]).status_code == 200
    return client


def send(app, built, channel, moment=NOW, schedule=False):
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        return service.send_message(
            session, case, channel, actor="agent@haohuan.example", moment=moment, schedule=schedule
        )


def stored(app):
    with app.app_context():
        return db.session().scalars(select(Message).order_by(Message.id)).all()


# The providers, alone --------------------------------------------------------------------


def test_line_push_posts_the_messaging_api_shape_with_a_retry_key(chat_server):
    server, handler = chat_server
    handler.answers = [(200, {"sentMessages": [{"id": "5001", "quoteToken": "q"}]}, {})]
    line = LinePush(f"http://127.0.0.1:{server.server_port}", "line-access-token", timeout=5)
    reference = line.send(USER_ID, "好還 Haohuan：有一則帳戶訊息。", "https://x/r/abc", "42")
    assert reference == "5001"
    [(method, path, headers, body)] = handler.requests
    assert (method, path) == ("POST", "/v2/bot/message/push")
    assert headers["Authorization"] == "Bearer line-access-token"
    assert headers["Content-Type"].startswith("application/json")
    assert uuid.UUID(headers["X-Line-Retry-Key"])
    assert json.loads(body) == {
        "to": USER_ID,
        "messages": [{"type": "text", "text": "好還 Haohuan：有一則帳戶訊息。"}],
    }


def test_a_line_send_whose_answer_failed_is_retried_with_the_same_key_and_never_doubles(
    chat_server,
):
    server, handler = chat_server
    # LINE took the first request but the answer was a 500; the retry with the same key
    # is answered 409 (already accepted): sent once, reported sent.
    handler.answers = [
        (500, {"message": "Internal error"}, {}),
        (
            409,
            {"message": "The retry key is already accepted"},
            {"x-line-accepted-request-id": "req-1"},
        ),
    ]
    line = LinePush(f"http://127.0.0.1:{server.server_port}", "t", timeout=5)
    assert line.send(USER_ID, "text", "", "77") == "req-1"
    keys = {headers["X-Line-Retry-Key"] for _, _, headers, _ in handler.requests}
    assert len(handler.requests) == 2
    assert len(keys) == 1
    # A refusal is certain and not retried; its reason holds no text and no token.
    handler.requests.clear()
    handler.answers = [(400, {"message": "The property, 'to', in the request body is invalid"}, {})]
    with pytest.raises(SendError) as refused:
        line.send("bad", "secret words", "", "78")
    assert refused.value.failure is SendFailure.CHAT_REFUSED
    assert refused.value.certain
    assert len(handler.requests) == 1
    assert "secret words" not in refused.value.reason
    assert "Bearer" not in refused.value.reason


def test_wechat_sends_a_template_message_and_a_non_zero_errcode_is_a_refusal(chat_server):
    server, handler = chat_server
    handler.answers = [(200, {"errcode": 0, "errmsg": "ok", "msgid": 200228332}, {})]
    wechat = WechatTemplate(
        f"http://127.0.0.1:{server.server_port}", "wx123", "app-secret", "TEMPLATE-1", timeout=5
    )
    text = "好还 Haohuan：有一条账户消息。请打开：\nhttps://x/r/abc\n退订：\nhttps://x/opt-out/z"
    assert wechat.send(OPENID, text, "https://x/r/abc", "9") == "200228332"
    (get, token_path, _, _), (post, path, headers, body) = handler.requests
    assert get == "GET"
    assert token_path.startswith("/cgi-bin/token?")
    assert headers["Content-Type"].startswith("application/json")
    assert parse_qs(urlsplit(token_path).query)["appid"] == ["wx123"]
    assert post == "POST"
    assert urlsplit(path).path == "/cgi-bin/message/template/send"
    assert parse_qs(urlsplit(path).query)["access_token"] == ["ACCESS-TOKEN-1"]
    sent = json.loads(body)
    assert sent["touser"] == OPENID
    assert sent["template_id"] == "TEMPLATE-1"
    assert sent["url"] == "https://x/r/abc"
    assert sent["data"]["first"]["value"] == "好还 Haohuan：有一条账户消息。请打开："
    assert "https://x/opt-out/z" in sent["data"]["remark"]["value"]
    # The token is kept: the next send asks for none.
    handler.requests.clear()
    handler.answers = [(200, {"errcode": 43004, "errmsg": "require subscribe"}, {})]
    with pytest.raises(SendError) as refused:
        wechat.send(OPENID, text, "https://x/r/abc", "10")
    assert [method for method, *_ in handler.requests] == ["POST"]
    assert refused.value.failure is SendFailure.CHAT_REFUSED
    assert refused.value.certain
    assert "43004" in refused.value.reason
    assert "ACCESS-TOKEN" not in refused.value.reason
    assert "账户" not in refused.value.reason


def test_a_wechat_token_voided_elsewhere_is_fetched_again_and_the_message_sent_once(chat_server):
    """Another process fetching its own token voids ours before it expires (errcode
    40001): WeChat took nothing, so the message goes once more with a new token; a
    second refusal of the new one is a refusal, never a third try."""
    server, handler = chat_server
    wechat = WechatTemplate(
        f"http://127.0.0.1:{server.server_port}", "wx123", "app-secret", "TEMPLATE-1", timeout=5
    )
    handler.answers = [
        (200, {"errcode": 40001, "errmsg": "invalid credential"}, {}),
        (200, {"errcode": 0, "errmsg": "ok", "msgid": 7}, {}),
    ]
    assert wechat.send(OPENID, "words", "https://x/r/abc", "1") == "7"
    assert [method for method, *_ in handler.requests] == ["GET", "POST", "GET", "POST"]
    handler.requests.clear()
    handler.answers = [(200, {"errcode": 42001, "errmsg": "access_token expired"}, {})]
    with pytest.raises(SendError) as refused:
        wechat.send(OPENID, "words", "https://x/r/abc", "2")
    assert refused.value.certain
    assert [method for method, *_ in handler.requests] == ["POST", "GET", "POST"]


# Linking, and sending through the gate ------------------------------------------------------


def test_a_linked_line_borrower_gets_a_discreet_reminder_through_the_line_api(app, chat_server):
    server, handler = chat_server
    use_http_chat(app, server)
    built = build_case(app)
    linked_line(app, built)
    with app.app_context():
        [account] = db.session().scalars(select(ChatAccount)).all()
        assert (account.status, account.account_id, account.token_hash) == ("linked", USER_ID, None)
        assert account.consented_at is not None
        assert account.terms_version
        kinds = db.session().scalars(select(CaseEvent.kind)).all()
        assert "chat_consent" in kinds
        assert "chat_linked" in kinds
    handler.requests.clear()
    handler.answers = [(200, {"sentMessages": [{"id": "9001"}]}, {})]
    result = send(app, built, Channel.LINE)
    assert result.outcome is service.Outcome.SENT
    [(_, path, _, body)] = handler.requests
    assert path == "/v2/bot/message/push"
    pushed = json.loads(body)
    assert pushed["to"] == USER_ID
    text = pushed["messages"][0]["text"]
    # As discreet as the SMS: no amount, the reminder link and the LINE opt-out.
    assert "/r/" in text
    assert "/opt-out/" in text
    assert not re.search(r"\d{1,3},\d{3}", text)
    assert "NT$" not in text
    assert "LINE" in text
    [message] = stored(app)
    assert (message.channel, message.status, message.provider) == ("line", "sent", "line")
    assert message.provider_reference == "9001"
    assert "/r/[link]" in message.body  # the live link is not kept for a real provider
    # The console's case page names the channel.
    from tests.portal.test_messaging import agent_client

    page = agent_client(app).get(f"/agent/cases/{built.case_id}/messages")
    assert page.status_code == 200
    assert "LINE" in page.get_data(as_text=True)


def test_a_borrower_who_never_linked_is_never_messaged_on_line_or_wechat(app, chat_server):
    server, handler = chat_server
    use_http_chat(app, server)
    built = build_case(app)
    for channel in (Channel.LINE, Channel.WECHAT):
        result = send(app, built, channel, schedule=True)
        assert result.outcome is service.Outcome.REFUSED
        assert result.problem is service.Problem.NO_ADDRESS
    # A pending request (consent given, never confirmed by the platform) is not a link.
    link_token(app, built)
    assert send(app, built, Channel.LINE).problem is service.Problem.NO_ADDRESS
    assert handler.requests == []
    assert stored(app) == []
    # The agent's case page says why, and offers no LINE button.
    from tests.portal.test_messaging import agent_client

    page = agent_client(app).get(f"/agent/cases/{built.case_id}/messages").get_data(as_text=True)
    assert page.count("The borrower has not linked this app") == 2
    assert "Send a reminder on LINE" not in page


def test_the_gate_refuses_line_at_night_and_after_an_opt_out(app, chat_server):
    server, handler = chat_server
    use_http_chat(app, server)
    built = build_case(app)
    linked_line(app, built)
    handler.requests.clear()
    handler.answers = [(200, {"sentMessages": [{"id": "9002"}]}, {})]
    night = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 23:00 in Taipei
    at_night = send(app, built, Channel.LINE, moment=night)
    assert at_night.outcome is service.Outcome.REFUSED
    assert ContactRefusal.QUIET_HOURS in at_night.decision.reasons
    assert at_night.decision.allowed_from is not None
    # The caps are shared with SMS: two messages a day, whichever channel.
    with app.app_context():
        session = db.session()
        session.get(Case, built.case_id).loan.borrower.phone = "+886912345678"
        session.commit()
    assert send(app, built, Channel.SMS).outcome is service.Outcome.SENT
    assert send(app, built, Channel.LINE).outcome is service.Outcome.SENT
    capped = send(app, built, Channel.LINE, moment=NOW + timedelta(hours=1))
    assert ContactRefusal.MESSAGES_PER_DAY in capped.decision.reasons
    assert len(handler.requests) == 1
    # Opted out (the link in the message): refused for good.
    with app.test_request_context("/"):
        service.opt_out(db.session(), built.borrower_id, Channel.LINE, NOW, source="link")
    later = send(app, built, Channel.LINE, moment=NOW + timedelta(days=3))
    assert later.outcome is service.Outcome.REFUSED
    assert ContactRefusal.OPTED_OUT in later.decision.reasons
    assert later.decision.allowed_from is None
    assert len(handler.requests) == 1


def test_a_wechat_timeout_fails_the_message_keeps_the_attempt_and_never_resends(app, chat_server):
    server, handler = chat_server
    use_http_chat(app, server)
    app.config["WECHAT_TIMEOUT"] = "0.3"
    app.extensions["haohuan.messaging"] = from_config(app.config)
    built = build_case(app)
    _client, token = link_token(app, built, "wechat")
    assert wechat_post(app.test_client(), wechat_text(OPENID, token)).status_code == 200
    handler.requests.clear()
    blocked = threading.Event()
    original = ChatStub._answer

    def answer(self, body):
        if self.command == "POST":
            type(self).requests.append((self.command, self.path, dict(self.headers), body))
            blocked.wait(1)
            return
        original(self, body)

    handler._answer = answer
    result = send(app, built, Channel.WECHAT)
    blocked.set()
    assert result.outcome is service.Outcome.FAILED
    [message] = stored(app)
    assert message.status == "failed"
    assert message.error.startswith("chat_timeout")
    with app.app_context():
        # It may have arrived: the attempt counts toward the caps.
        assert db.session().scalar(select(func.count(ContactAttempt.id))) == 1
        counts = service.dispatch_due(db.session(), NOW + timedelta(minutes=30))
    assert counts.sent == 0
    assert len([r for r in handler.requests if r[0] == "POST"]) == 1


# The webhooks ------------------------------------------------------------------------------


def test_a_forged_signature_links_nothing_and_an_unfollow_unlinks(app):
    app.config.update(LINE_CHANNEL_SECRET=LINE_SECRET, WECHAT_TOKEN=WECHAT_TOKEN)
    built = build_case(app)
    client, token = link_token(app, built)
    event = {
        "type": "message",
        "source": {"type": "user", "userId": "Uattacker"},
        "message": {"type": "text", "text": token},
    }
    forged = line_post(app.test_client(), [event], secret="guessed")
    assert forged.status_code == 403
    unsigned = app.test_client().post("/chat/line/link", json={"events": [event]})
    assert unsigned.status_code == 403
    with app.app_context():
        [account] = db.session().scalars(select(ChatAccount)).all()
        assert (account.status, account.account_id) == ("pending", None)
    # WeChat: a wrong token's signature, or an old timestamp, does nothing either.
    _, wechat_token = link_token(app, built, "wechat")
    assert (
        wechat_post(app.test_client(), wechat_text(OPENID, wechat_token), token="x").status_code
        == 403
    )
    stale = str(int((NOW - timedelta(hours=1)).timestamp()))
    assert (
        wechat_post(
            app.test_client(), wechat_text(OPENID, wechat_token), timestamp=stale
        ).status_code
        == 403
    )
    # A timestamp no clock can hold (the year 33658 and beyond): refused, never a 500.
    for absurd in ("999999999999", "9" * 40):
        answer = wechat_post(app.test_client(), wechat_text(OPENID, wechat_token), timestamp=absurd)
        assert answer.status_code == 403
    with app.app_context():
        assert chat.linked_accounts(db.session(), [built.borrower_id]) == {}
    # The real ones link; a token works once.
    ok = {
        "type": "accountLink",
        "source": {"userId": USER_ID},
        "link": {"result": "ok", "nonce": token},
    }
    assert line_post(app.test_client(), [ok]).status_code == 200
    assert wechat_post(app.test_client(), wechat_text(OPENID, wechat_token)).status_code == 200
    again = {
        "type": "accountLink",
        "source": {"userId": "Uother"},
        "link": {"result": "ok", "nonce": token},
    }
    assert line_post(app.test_client(), [again]).status_code == 200
    with app.app_context():
        assert chat.linked_accounts(db.session(), [built.borrower_id]) == {
            (built.borrower_id, Channel.LINE): USER_ID,
            (built.borrower_id, Channel.WECHAT): OPENID,
        }
    # A scheduled LINE message is cancelled by the unfollow.
    night = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert (
        send(app, built, Channel.LINE, moment=night, schedule=True).outcome
        is service.Outcome.SCHEDULED
    )
    assert (
        line_post(
            app.test_client(), [{"type": "unfollow", "source": {"userId": USER_ID}}]
        ).status_code
        == 200
    )
    [message] = stored(app)
    assert (message.status, message.error) == ("cancelled", "unlinked")
    # WeChat: one click on the contact page.
    assert client.post("/contact/chat/wechat/unlink", data={}).status_code == 303
    with app.app_context():
        assert chat.linked_accounts(db.session(), [built.borrower_id]) == {}
    assert send(app, built, Channel.WECHAT).problem is service.Problem.NO_ADDRESS


# The contact strategy ----------------------------------------------------------------------


def test_a_strategy_step_prefers_line_for_a_linked_borrower_and_falls_back_to_sms(app):
    from tests.portal.test_strategy_planner import _case, _doc, _messages, _run, _step

    app.config["LINE_CHANNEL_SECRET"] = LINE_SECRET
    document = _doc(_step("day1", "overdue", 1, ["line", "sms"]))
    linked_case = _case(app, 1)
    with app.test_request_context("/"):
        session = db.session()
        token = chat.request_link(session, session.get(Case, linked_case), Channel.LINE, NOW, "t1")
        assert chat.confirm_link(session, Channel.LINE, token, USER_ID, NOW)
    plain_case = _case(app, 1)
    _run(app, document)
    (on_line,) = _messages(app, linked_case)
    assert (on_line.channel, on_line.address) == ("line", USER_ID)
    (by_sms,) = _messages(app, plain_case)
    assert by_sms.channel == "sms"
    # The scheduled sender sends the LINE message through the gate, discreetly worded.
    with app.test_request_context("/"):
        service.dispatch_due(db.session(), NOW + timedelta(hours=1))
    with app.app_context():
        sent = db.session().get(Message, on_line.id)
        assert (sent.status, sent.provider) == ("sent", "outbox")
        assert "LINE" in sent.body
        assert "/r/" in sent.body
        body = sent.body
    # Its opt-out link asks about LINE, and stops LINE only.
    [opt_out] = re.findall(r"https?://\S+/opt-out/\S+", body)
    client = app.test_client()
    page = client.get(urlsplit(opt_out).path)
    assert page.status_code == 200
    assert "LINE" in page.get_data(as_text=True)
    assert client.post(urlsplit(opt_out).path).status_code == 200
    with app.app_context():
        assert [(o.channel, o.source) for o in db.session().scalars(select(OptOut))] == [
            ("line", "link")
        ]


def test_a_bulk_send_on_line_reaches_only_the_linked_borrowers(app):
    app.config.update(LINE_CHANNEL_SECRET=LINE_SECRET, WECHAT_TOKEN=WECHAT_TOKEN)
    linked = build_case(app)
    plain = build_case(app, name="王小明")
    linked_line(app, linked)
    with app.test_request_context("/"):
        batch = service.queue_bulk(
            db.session(),
            [linked.case_id, plain.case_id],
            Channel.LINE,
            actor="agent@haohuan.example",
            moment=NOW,
            segment={},
        )
        batch_id = batch.id
        service.dispatch_due(db.session(), NOW, batch_id=batch_id)
    [message] = stored(app)
    assert (message.case_id, message.channel, message.address) == (linked.case_id, "line", USER_ID)
    assert message.status == "sent"
    # A WeChat message too; the outbox names each channel in the console's language.
    _client, token = link_token(app, plain, "wechat")
    assert wechat_post(app.test_client(), wechat_text(OPENID, token)).status_code == 200
    assert send(app, plain, Channel.WECHAT).outcome is service.Outcome.SENT
    from tests.portal.test_messaging import agent_client

    client = agent_client(app)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-TW"
    page = client.get("/agent/outbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<td>LINE</td>" in html
    assert "<td>微信</td>" in html
    # Filtered by channel: only that channel's rows; an unknown channel is no filter.
    only_line = client.get("/agent/outbox?channel=line").get_data(as_text=True)
    assert "<td>LINE</td>" in only_line
    assert "<td>微信</td>" not in only_line
    only_wechat = client.get("/agent/outbox?channel=wechat").get_data(as_text=True)
    assert "<td>LINE</td>" not in only_wechat
    assert "<td>微信</td>" in only_wechat
    assert "<td>微信</td>" in client.get("/agent/outbox?channel=fax").get_data(as_text=True)


# Configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"LINE_PROVIDER": "carrier-pigeon"}, "unknown LINE_PROVIDER"),
        ({"LINE_PROVIDER": "http"}, "LINE_PROVIDER=http needs LINE_CHANNEL_TOKEN"),
        (
            {
                "LINE_PROVIDER": "http",
                "LINE_CHANNEL_TOKEN": "t",
                "LINE_API_URL": "http://line.example",
            },
            "LINE_API_URL must use https",
        ),
        ({"WECHAT_PROVIDER": "http"}, "needs WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TEMPLATE_ID"),
    ],
)
def test_the_app_refuses_chat_settings_that_cannot_work(tmp_path, settings, complaint):
    from portal import ConfigurationError, create_app

    from .factories import app_config

    with pytest.raises(ConfigurationError, match=complaint):
        create_app({**app_config(f"sqlite:///{tmp_path}/h.db"), **settings})


def test_production_refuses_the_chat_outbox_once_the_app_can_be_linked(tmp_path):
    from portal import ConfigurationError, create_app

    from .factories import app_config

    config = {
        **app_config(f"sqlite:///{tmp_path}/h.db"),
        "ENV_NAME": "production",
        "PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "mail.example.com",
        "MAIL_FROM": "reminders@haohuan.example",
        "SMS_PROVIDER": "http",
        "SMS_HTTP_URL": "https://api.sms.example/send",
        "SMS_HTTP_TOKEN": "token",
        "SMS_SENDER": "Haohuan",
        "PUBLIC_URL": "https://pay.haohuan.example",
        "HAOHUAN_NOW": "",
    }
    # Without a channel secret nobody can link LINE: its outbox is never used.
    assert create_app(config).extensions["haohuan.messaging"].line.name == "outbox"
    with pytest.raises(ConfigurationError, match="LINE_PROVIDER=outbox is refused"):
        create_app({**config, "LINE_CHANNEL_SECRET": "s"})
    app = create_app(
        {**config, "LINE_CHANNEL_SECRET": "s", "LINE_PROVIDER": "http", "LINE_CHANNEL_TOKEN": "t"}
    )
    assert app.extensions["haohuan.messaging"].line.name == "line"


def test_wechat_linking_shows_a_parametric_qr_code_whose_scan_links(app, chat_server):
    server, handler = chat_server
    use_http_chat(app, server)
    handler.answers = [
        (200, {"ticket": "T", "expire_seconds": 1800, "url": "http://weixin.qq.com/q/abc"}, {})
    ]
    built = build_case(app)
    client = app.test_client()
    sign_in(client, built)
    page = client.post("/contact/chat/wechat/link", data={"consent": "y"})
    html = page.get_data(as_text=True)
    [token] = re.findall(r'<p class="code">([A-Za-z0-9_-]{40,})</p>', html)
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html
    assert decoded_qr("http://weixin.qq.com/q/abc") == "http://weixin.qq.com/q/abc"
    [(_, _token_path, _, _), (method, path, _, body)] = handler.requests
    assert (method, urlsplit(path).path) == ("POST", "/cgi-bin/qrcode/create")
    asked = json.loads(body)
    assert asked["action_name"] == "QR_STR_SCENE"
    assert asked["action_info"]["scene"]["scene_str"] == token
    # Scanning it: WeChat's subscribe event names the scene; the openid is linked.
    event = (
        f"<xml><ToUserName>gh_1</ToUserName><FromUserName>{OPENID}</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event>"
        f"<EventKey>qrscene_{token}</EventKey></xml>"
    )
    assert wechat_post(app.test_client(), event).get_data(as_text=True) == "success"
    with app.app_context():
        assert chat.linked_accounts(db.session(), [built.borrower_id]) == {
            (built.borrower_id, Channel.WECHAT): OPENID
        }
    # WeChat's unsubscribe ends it.
    gone = event.replace("<Event>subscribe</Event>", "<Event>unsubscribe</Event>")
    assert wechat_post(app.test_client(), gone).status_code == 200
    with app.app_context():
        assert chat.linked_accounts(db.session(), [built.borrower_id]) == {}
    # An XML body with a DTD is refused unread.
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml>&a;</xml>'
    assert wechat_post(app.test_client(), bomb).status_code == 400


def test_saving_the_contact_choices_leaves_the_linked_apps_alone(app):
    app.config["LINE_CHANNEL_SECRET"] = LINE_SECRET
    built = build_case(app)
    client = linked_line(app, built)
    page = client.get("/contact").get_data(as_text=True)
    assert "Unlink" in page or "解除連結" in page
    saved = client.post("/contact", data={"channels": ["call", "sms", "email", "letter"]})
    assert saved.status_code == 303
    saved = client.post("/contact", data={"channels": ["call", "letter"]})
    assert saved.status_code == 303
    with app.app_context():
        session = db.session()
        assert {o.channel for o in session.scalars(select(OptOut))} == {"sms", "email"}
        assert chat.linked_accounts(session, [built.borrower_id]) == {
            (built.borrower_id, Channel.LINE): USER_ID
        }


def test_the_database_refuses_one_app_account_linked_to_two_borrowers(app):
    """The check under each borrower's own lock cannot see a link another borrower's
    request makes at the same moment: a unique index on linked accounts refuses the
    second (``confirm_link`` then answers False), while unlinked rows may repeat."""
    app.config.update(LINE_CHANNEL_SECRET=LINE_SECRET)
    first = build_case(app)
    second = build_case(app, name="王小明", date_of_birth="1990-01-02")
    _client, first_token = link_token(app, first)
    _client, _second_token = link_token(app, second)
    with app.app_context():
        session = db.session()
        assert chat.confirm_link(session, Channel.LINE, first_token, USER_ID, NOW)
        pending = session.scalars(
            select(ChatAccount).where(ChatAccount.borrower_id == second.borrower_id)
        ).one()
        pending.status, pending.account_id = "linked", USER_ID
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        pending = session.scalars(
            select(ChatAccount).where(ChatAccount.borrower_id == second.borrower_id)
        ).one()
        pending.status, pending.account_id = "unlinked", USER_ID
        session.commit()  # an ended link of the same account is no conflict
