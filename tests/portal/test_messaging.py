"""Reminders by SMS and email: a real SMTP server (aiosmtpd) and a local HTTP SMS
provider, the contact rules at sending time (quiet hours in the borrower's own zone,
caps shared by agents, holds and opt-outs for good), opt-out links, bulk sends that
schedule rather than drop, the scheduled sender, and the words in the borrower's
language."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from flask.cli import ScriptInfo
from flask_babel import force_locale
from flask_babel import gettext as _
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from negotiation.contact import Channel
from portal import ConfigurationError, create_app
from portal.cases.holds import place_hold
from portal.cases.masking import mask_name, mask_text
from portal.cli import cli
from portal.contact.gate import judge, record_attempt
from portal.core import db
from portal.messaging import service
from portal.messaging.compose import compose, sms_parts
from portal.messaging.links import hide_link_tokens, opt_out_token, opt_out_url
from portal.messaging.providers import OutboxSms, Providers, from_config
from portal.models import (
    AuditEntry,
    Case,
    CaseStatus,
    ContactAttempt,
    Message,
    MessageBatch,
    Offer,
    OptOut,
    ReminderLink,
)
from portal.web.agent.message_views import failure_text

from .factories import NOW, add_staff, app_config, build_case, notice_sent, staff_sign_in

AGENT = "agent@haohuan.example"
OTHER_AGENT = "other@haohuan.example"
EMAIL = "chen.yijun@example.com"
URL = re.compile(r"https?://\S+")


def at(app, moment):
    """Freeze the app's clock at ``moment``."""
    app.config["HAOHUAN_NOW"] = moment.isoformat()


def agent_client(app, email=AGENT):
    """An agent signed in (at the app's current time), reading the console in English."""
    add_staff(app, email=email, roles=("agent",))
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert staff_sign_in(client, email=email).status_code == 303
    return client


def with_email(app, built, address=EMAIL):
    with app.app_context():
        session = db.session()
        session.get(Case, built.case_id).loan.borrower.email = address
        session.commit()


def messages(app, **where):
    with app.app_context():
        query = select(Message).order_by(Message.id)
        for name, value in where.items():
            query = query.where(getattr(Message, name) == value)
        return list(db.session().scalars(query))


def audit_actions(app):
    with app.app_context():
        return [e.action for e in db.session().scalars(select(AuditEntry).order_by(AuditEntry.id))]


def send(client, built, channel="sms", **extra):
    return client.post(f"/agent/cases/{built.case_id}/messages", data={"channel": channel, **extra})


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Providers: a real SMTP server, a local HTTP SMS provider ------------------------------------


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def use_smtp(app, controller):
    app.config.update(
        EMAIL_PROVIDER="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(controller.port),
        SMTP_SECURITY="none",
        MAIL_FROM="好還 Haohuan <reminders@haohuan.example>",
        PUBLIC_URL="https://pay.haohuan.example",
    )
    app.extensions["haohuan.messaging"] = from_config(app.config)


class SmsProviderStub(BaseHTTPRequestHandler):
    """Answers as Twilio's Messages API does; the test sets ``answer``."""

    requests: list
    answer: tuple[int, dict]

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        type(self).requests.append((self.path, dict(self.headers), self.rfile.read(length)))
        status, body = type(self).answer
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def sms_server():
    handler = type("Handler", (SmsProviderStub,), {"requests": [], "answer": (201, {})})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def use_http_sms(app, server):
    app.config.update(
        SMS_PROVIDER="http",
        SMS_HTTP_URL=f"http://127.0.0.1:{server.server_port}/2010-04-01/Accounts/AC123/Messages.json",
        SMS_HTTP_ACCOUNT="AC123",
        SMS_HTTP_TOKEN="secret-token",
        SMS_SENDER="Haohuan",
        SMS_HTTP_TIMEOUT="5",
    )
    app.extensions["haohuan.messaging"] = from_config(app.config)


def test_an_email_reaches_a_real_smtp_server_in_the_borrowers_language(app, smtp_server):
    controller, inbox = smtp_server
    use_smtp(app, controller)
    built = build_case(app, locale="zh_Hans_CN", name="陈怡君")
    with_email(app, built)
    client = agent_client(app)

    answer = send(client, built, "email")
    assert answer.status_code == 303
    [(sender, recipients, raw)] = inbox.received
    assert sender == "reminders@haohuan.example"
    assert recipients == [EMAIL]
    mail = message_from_bytes(raw, policy=email_policy.default)
    opt_out = mail["List-Unsubscribe"].strip().strip("<>")
    assert opt_out.startswith("https://pay.haohuan.example/opt-out/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Message-ID"].endswith("@haohuan.example>")
    assert mail.get_content_type() == "text/plain"
    body = mail.get_content()
    with app.test_request_context("/"), force_locale("zh_Hans_CN"):
        next_steps = _("What happens next if nothing changes:")
        stop = _("To stop emails from us, open %(url)s", url=opt_out)
        # A Simplified message names the lender in Simplified characters (好还).
        subject = _(
            "%(lender)s: a message about your account", lender=app.config["LENDER_NAME_HANS"]
        )
    assert next_steps != "What happens next if nothing changes:"  # translated
    assert next_steps in body
    assert stop in body
    assert str(mail["Subject"]) == subject
    assert "陈怡君" in body
    assert "NT$11,450" in body  # 4 of 12 installments of 5,500 unpaid... plus the charges
    # The link in it opens the borrower's page (the verification form).
    [link] = [u for u in URL.findall(body) if "/r/" in u]
    assert link.startswith("https://pay.haohuan.example/r/")
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert 'name="answer"' in page.get_data(as_text=True)
    # Stored: sent, the Message-ID as reference, the link's token not kept.
    [stored] = messages(app)
    assert (stored.status, stored.provider) == ("sent", "smtp")
    assert stored.provider_reference == mail["Message-ID"]
    assert urlsplit(link).path.split("/")[-1] not in stored.body
    assert "/r/[link]" in stored.body
    assert stored.locale == "zh_Hans_CN"
    # The mail client's one-click unsubscribe: no cookie, no form token.
    app.config["WTF_CSRF_ENABLED"] = True
    clicked = app.test_client().post(urlsplit(opt_out).path, data={"List-Unsubscribe": "One-Click"})
    assert clicked.status_code == 200
    with app.app_context():
        opted = db.session().scalars(select(OptOut)).all()
    assert [(o.channel, o.source) for o in opted] == [("email", "link")]


def test_an_smtp_refusal_is_a_failed_message_that_uses_no_allowed_contact(app, smtp_server):
    controller, _inbox = smtp_server
    use_smtp(app, controller)
    app.config["SMTP_PORT"] = str(free_port())  # nobody listens there
    app.extensions["haohuan.messaging"] = from_config(app.config)
    built = build_case(app)
    with_email(app, built)
    client = agent_client(app)
    assert send(client, built, "email").status_code == 303
    [failed] = messages(app)
    assert failed.status == "failed"
    assert failed.error.startswith("mail_unreachable")
    with app.app_context():
        assert db.session().scalar(select(func.count(ContactAttempt.id))) == 0
    assert "message.failed" in audit_actions(app)


def test_http_sms_posts_twilios_shape_and_keeps_its_reference(app, sms_server):
    server, handler = sms_server
    handler.answer = (201, {"sid": "SM0123456789abcdef", "status": "queued"})
    use_http_sms(app, server)
    built = build_case(app)
    client = agent_client(app)
    assert send(client, built, "sms").status_code == 303
    [(path, headers, raw)] = handler.requests
    assert path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:secret-token").decode()
    form = {key: value[0] for key, value in parse_qs(raw.decode()).items()}
    assert form["To"] == "+886912345678"
    assert form["From"] == "Haohuan"
    assert "/r/" in form["Body"]
    assert "/opt-out/" in form["Body"]
    [stored] = messages(app)
    assert (stored.status, stored.provider_reference) == ("sent", "SM0123456789abcdef")
    assert headers["X-Haohuan-Reference"] == str(stored.id)


def test_an_sms_provider_error_is_failed_with_its_reason(app, sms_server):
    server, handler = sms_server
    handler.answer = (400, {"code": 21211, "message": "Invalid 'To' Phone Number"})
    use_http_sms(app, server)
    built = build_case(app)
    client = agent_client(app)
    assert send(client, built, "sms").status_code == 303
    [failed] = messages(app)
    assert failed.status == "failed"
    assert failed.error == "sms_refused: HTTP 400: code 21211, Invalid 'To' Phone Number"
    page = client.get(f"/agent/messages/{failed.id}").get_data(as_text=True)
    assert "The SMS provider refused the message." in page
    assert "21211" in page
    with app.app_context():
        # A certain refusal reached nobody: no attempt, so the caps are untouched.
        assert db.session().scalar(select(func.count(ContactAttempt.id))) == 0
    # The provider's own failure (5xx) may have sent it: the attempt is kept.
    handler.answer = (503, {"message": "Service Unavailable"})
    assert send(client, built, "sms").status_code == 303
    second = messages(app)[-1]
    assert (second.status, second.error) == (
        "failed",
        "sms_provider_error: HTTP 503: Service Unavailable",
    )
    with app.app_context():
        assert db.session().scalar(select(func.count(ContactAttempt.id))) == 1


def test_a_provider_failure_is_worded_in_the_consoles_language(app):
    with socket.socket() as silent:  # listens, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        app.config.update(
            SMS_PROVIDER="http",
            SMS_HTTP_URL=f"http://127.0.0.1:{silent.getsockname()[1]}/Messages.json",
            SMS_HTTP_ACCOUNT="AC123",
            SMS_HTTP_TOKEN="secret-token",
            SMS_SENDER="Haohuan",
            SMS_HTTP_TIMEOUT="0.5",
        )
        app.extensions["haohuan.messaging"] = from_config(app.config)
        built = build_case(app)
        client = agent_client(app)
        assert send(client, built, "sms").status_code == 303
    [failed] = messages(app)
    assert (failed.status, failed.error) == ("failed", "sms_timeout")
    for lang, words in (
        ("en", "The SMS provider did not answer in time"),
        ("zh_Hant_TW", "簡訊服務商未在時限內回應"),
        ("zh_Hans_CN", "短信服务商未在时限内响应"),
    ):
        for path in ("/agent/outbox", f"/agent/messages/{failed.id}"):
            html = client.get(f"{path}?lang={lang}").get_data(as_text=True)
            assert words in html, (lang, path)
            assert "sms_timeout" not in html
            assert "no answer" not in html


@pytest.mark.parametrize(
    ("stored", "sentence", "detail"),
    [
        ("sms_refused: HTTP 400: code 21211", "The SMS provider refused", "HTTP 400: code 21211"),
        ("mail_unreachable: ConnectionRefusedError", "could not be reached", "ConnectionRefused"),
        ("interrupted", "Sending was interrupted", ""),
        # Stored before failures were codes: mapped to the same sentences.
        ("no answer from the SMS provider in time", "did not answer in time", ""),
        ("SMS provider unreachable: URLError", "could not be reached", "URLError"),
        ("HTTP 503: Service Unavailable", "a fault of its own", "HTTP 503: Service Unavailable"),
        ("SMTP 550: no such user", "The mail server refused the email.", "SMTP 550"),
        ("interrupted while sending: whether it arrived is unknown", "interrupted", ""),
        ("something else", "The provider did not take the message.", "something else"),
    ],
)
def test_stored_failures_map_to_translated_sentences(app, stored, sentence, detail):
    with app.test_request_context("/"), force_locale("en"):
        said, technical = failure_text(stored)
    assert sentence in said
    assert detail in technical
    if not detail:
        assert technical == ""


# The contact rules at sending time ----------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_a_resolved_case_gets_no_reminder_but_still_hears_how_its_dispute_ended(app, channel):
    built = build_case(app)
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        case.status = CaseStatus.RESOLVED  # paid off, settled, or written off
        session.commit()
    client = agent_client(app)
    refused = send(client, built, channel, schedule="1")
    assert refused.status_code == 422
    assert "nothing is owed" in refused.get_data(as_text=True)
    assert messages(app) == []
    assert audit_actions(app)[-1] == "message.refused"
    with app.test_request_context("/"):
        session = db.session()
        told = service.send_dispute_outcome(
            session, session.get(Case, built.case_id), upheld=True, actor="system", moment=NOW
        )
    assert told.outcome is not service.Outcome.REFUSED
    assert [message.purpose for message in messages(app)] == [service.DISPUTE_UPHELD]


def test_quiet_hours_in_taipei_refuse_with_the_next_allowed_local_time(app):
    built = build_case(app)
    at(app, datetime(2026, 11, 30, 15, 0, tzinfo=UTC))  # 23:00 in Taipei
    client = agent_client(app)
    refused = send(client, built, "sms")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "It is outside the allowed hours in the borrower&#39;s time zone." in page
    # 07:00 tomorrow on the borrower's clock, Taiwan's rules (Babel puts a narrow space
    # before AM).
    assert "Dec 1, 2026 7:00\u202fAM (Taipei)" in page
    assert messages(app) == []
    assert audit_actions(app)[-1] == "message.refused"
    # The agent chooses to schedule it for then.
    scheduled = send(client, built, "sms", schedule="1")
    assert scheduled.status_code == 303
    [waiting] = messages(app)
    assert waiting.status == "scheduled"
    assert waiting.send_at.replace(tzinfo=UTC) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert waiting.body is None  # written, with its link, when it is sent


def test_quiet_hours_are_the_borrowers_own_in_los_angeles(app):
    built = build_case(app, timezone="America/Los_Angeles", locale="en", name="Amy Chen")
    notice_sent(app, built.case_id)  # the US validation notice: not what this is about
    # 15:30 in Taipei, where the agent sits; 23:30 in Los Angeles.
    at(app, datetime(2026, 11, 30, 7, 30, tzinfo=UTC))
    client = agent_client(app)
    refused = send(client, built, "sms")
    assert refused.status_code == 422
    assert "(Los Angeles)" in refused.get_data(as_text=True)
    send(client, built, "sms", schedule="1")
    [waiting] = messages(app, purpose="reminder")
    # 08:00 Pacific Standard Time is 16:00 UTC.
    assert waiting.send_at.replace(tzinfo=UTC) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    at(app, datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    with app.test_request_context("/"):
        done = service.dispatch_due(db.session(), datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    assert done.sent == 1
    [sent] = messages(app, purpose="reminder")
    assert sent.status == "sent"
    assert "/opt-out/" in sent.body


def test_the_days_messages_are_shared_by_every_agent(app):
    built = build_case(app)
    with_email(app, built)
    first = agent_client(app)
    second = agent_client(app, OTHER_AGENT)
    assert send(first, built, "sms").status_code == 303
    assert send(first, built, "email").status_code == 303
    refused = send(second, built, "sms")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "The borrower has already had as many messages as allowed today." in page
    assert "Dec 1, 2026 7:00\u202fAM (Taipei)" in page  # tomorrow at 07:00 in Taipei
    with app.app_context():
        agents = db.session().scalars(select(ContactAttempt.agent)).all()
    assert agents == [AGENT, AGENT]


def test_a_hold_refuses_every_message_for_good(app):
    built = build_case(app, hold="dispute")
    client = agent_client(app)
    for extra in ({}, {"schedule": "1"}):
        refused = send(client, built, "sms", **extra)
        assert refused.status_code == 422
        page = refused.get_data(as_text=True)
        assert "The case is on hold" in page
        assert "Waiting does not make it allowed" in page
        assert "Schedule it for" not in page
    assert messages(app) == []
    assert audit_actions(app).count("message.refused") == 2


def test_an_opt_out_link_stops_that_channel_only(app):
    built = build_case(app, locale="zh_Hant_TW")
    with_email(app, built)
    client = agent_client(app)
    with app.test_request_context("/"):
        token = opt_out_token(built.borrower_id, Channel.SMS)
    borrower = app.test_client()
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert borrower.get(f"/opt-out/{tampered}").status_code == 404
    assert borrower.post(f"/opt-out/{tampered}").status_code == 404
    assert borrower.get("/opt-out/x").status_code == 404
    # GET only asks (mail scanners open every link), in the borrower's language.
    asked = borrower.get(f"/opt-out/{token}")
    assert asked.status_code == 200
    text = asked.get_data(as_text=True)
    assert "停止簡訊" in text or "簡訊" in text
    assert "+886 9** *** 678" in text
    with app.app_context():
        assert db.session().scalar(select(func.count(OptOut.id))) == 0
    # Our own form needs its CSRF token; the mail client's one-click body does not.
    app.config["WTF_CSRF_ENABLED"] = True
    assert borrower.post(f"/opt-out/{token}", data={"x": "1"}).status_code == 400
    app.config["WTF_CSRF_ENABLED"] = False
    done = borrower.post(f"/opt-out/{token}")
    assert done.status_code == 200
    assert borrower.post(f"/opt-out/{token}").status_code == 200  # twice is harmless
    with app.app_context():
        rows = db.session().scalars(select(OptOut)).all()
    assert [(row.channel, row.source) for row in rows] == [("sms", "link")]
    refused = send(client, built, "sms", schedule="1")
    assert refused.status_code == 422
    assert "The borrower has opted out of this channel." in refused.get_data(as_text=True)
    assert send(client, built, "email").status_code == 303
    assert [m.channel for m in messages(app)] == ["email"]


def test_an_agent_records_an_opt_out_said_on_the_phone_and_lifts_it_with_consent(app):
    built = build_case(app)
    at(app, datetime(2026, 11, 30, 15, 0, tzinfo=UTC))  # night: a message gets scheduled
    client = agent_client(app)
    send(client, built, "sms", schedule="1")
    recorded = client.post(
        f"/agent/cases/{built.case_id}/opt-outs", data={"channel": "sms", "action": "record"}
    )
    assert recorded.status_code == 303
    [waiting] = messages(app)
    assert (waiting.status, waiting.error) == ("cancelled", "opted_out")
    refused = client.post(
        f"/agent/cases/{built.case_id}/opt-outs", data={"channel": "sms", "action": "lift"}
    )
    assert refused.status_code == 422
    lifted = client.post(
        f"/agent/cases/{built.case_id}/opt-outs",
        data={"channel": "sms", "action": "lift", "consent": "1"},
    )
    assert lifted.status_code == 303
    with app.app_context():
        [row] = db.session().scalars(select(OptOut)).all()
    assert (row.source, row.recorded_by, row.lifted_at is not None) == ("agent", AGENT, True)
    assert {"optout.record", "optout.lift"} <= set(audit_actions(app))
    section = client.get(f"/agent/cases/{built.case_id}/messages").get_data(as_text=True)
    assert "Told an agent" in section
    assert "lifted" in section


def test_the_reminder_forms_need_the_page_token(app):
    """The console's reminder forms are posted with the CSRF token their page carries:
    without it nothing is done; with it the form's own checks answer."""
    built = build_case(app)
    client = agent_client(app)
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(f"/agent/cases/{built.case_id}/messages").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    opt_out = {"channel": "sms", "action": "record"}
    url = f"/agent/cases/{built.case_id}/opt-outs"
    assert client.post(url, data=opt_out).status_code == 400
    assert client.post(url, data={**opt_out, "csrf_token": token}).status_code == 303
    lift = {"channel": "sms", "action": "lift", "csrf_token": token}
    refused = client.post(url, data=lift)
    assert refused.status_code == 422
    assert "tick the box to confirm they did" in refused.get_data(as_text=True)
    assert send(client, built, "fax").status_code == 400
    wrong = send(client, built, "fax", csrf_token=token)
    assert wrong.status_code == 422
    assert "Choose SMS or email." in wrong.get_data(as_text=True)
    bulk = client.post("/agent/bulk", data={"channel": "fax", "csrf_token": token})
    assert bulk.status_code == 422
    assert "Choose SMS or email." in bulk.get_data(as_text=True)
    with app.app_context():
        rows = db.session().scalars(select(OptOut)).all()
    assert [(row.channel, row.source) for row in rows] == [("sms", "agent")]


# Bulk ----------------------------------------------------------------------------------------


def test_a_bulk_send_at_night_schedules_every_message_and_the_sender_sends_them(app):
    first = build_case(app, name="陳一")
    second = build_case(app, name="陳二", locale="zh_Hans_CN")
    held = build_case(app, name="陳三", hold="hardship")
    night = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 23:00 in Taipei
    at(app, night)
    client = agent_client(app)
    preview = client.get("/agent/bulk?preview=1&channel=sms&dpd=all")
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert re.search(r"Scheduled for later</dt><dd class=\"num\">2", page)
    assert re.search(r"Sent now</dt><dd class=\"num\">0", page)
    assert "The case is on hold" in page
    assert messages(app) == []  # a preview changes nothing

    queued = client.post("/agent/bulk", data={"channel": "sms", "dpd": "all"})
    assert queued.status_code == 303
    waiting = messages(app)
    assert {m.case_id for m in waiting} == {first.case_id, second.case_id}
    morning = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 07:00 in Taipei
    assert all(m.status == "scheduled" for m in waiting)
    assert all(m.send_at.replace(tzinfo=UTC) == morning for m in waiting)
    with app.app_context():
        batch = db.session().scalars(select(MessageBatch)).one()
    assert (batch.queued, batch.scheduled, batch.refused) == (0, 2, 1)
    assert client.get(queued.headers["Location"]).status_code == 200

    # Nothing goes before its time.
    with app.test_request_context("/"):
        early = service.dispatch_due(db.session(), morning - timedelta(minutes=1))
    assert early.sent == 0
    # A hold placed meanwhile cancels its case's message.
    with app.test_request_context("/"):
        session = db.session()
        place_hold(session, session.get(Case, second.case_id), "dispute", "not mine", night)
    at(app, morning)
    result = CliRunner().invoke(
        cli, ["messages", "send-due"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 failed, 1 canceled" in result.output
    sent = {m.case_id: m for m in messages(app)}
    assert sent[first.case_id].status == "sent"
    assert "/opt-out/" in sent[first.case_id].body
    assert sent[second.case_id].status == "cancelled"
    assert sent[second.case_id].error == "on_hold"
    assert held.case_id not in sent
    # Queued again, the same segment adds nothing while one is waiting... none is now.
    assert "message.bulk" in audit_actions(app)


def test_a_bulk_send_in_allowed_hours_goes_out_once_the_answer_is_sent(app):
    first = build_case(app, name="陳一")
    second = build_case(app, name="Amy Chen", locale="en")
    with_email(app, second)
    client = agent_client(app)  # 10:00 in Taipei
    queued = client.post("/agent/bulk", data={"channel": "email", "dpd": "all"})
    assert queued.status_code == 303
    queued.close()  # the response is done: the job runs (in the process, without Redis)
    sent = messages(app)
    assert [(m.case_id, m.status) for m in sent] == [(second.case_id, "sent")]
    assert "Amy Chen" in sent[0].body
    with app.app_context():
        batch = db.session().scalars(select(MessageBatch)).one()
    assert (batch.queued, batch.scheduled, batch.refused) == (1, 0, 1)  # no email for 陳一
    page = client.get(f"/agent/bulk/{batch.id}").get_data(as_text=True)
    assert "c***@example.com" in page
    assert audit_actions(app)[-1] == "bulk.view"
    assert first.case_id not in {m.case_id for m in sent}


def test_bulk_skips_a_case_whose_message_is_already_waiting(app):
    build_case(app)
    at(app, datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    client = agent_client(app)
    assert client.post("/agent/bulk", data={"channel": "sms", "dpd": "all"}).status_code == 303
    again = client.get("/agent/bulk?preview=1&channel=sms&dpd=all").get_data(as_text=True)
    assert "A message on this channel is already waiting" in again
    client.post("/agent/bulk", data={"channel": "sms", "dpd": "all"})
    assert len(messages(app)) == 1
    # An invalid segment or channel queues nothing and says why.
    refused = client.post("/agent/bulk", data={"channel": "fax", "stage": "nonsense"})
    assert refused.status_code == 422
    assert "Choose SMS or email." in refused.get_data(as_text=True)


def test_a_late_sender_moves_a_message_past_a_day_whose_messages_are_used(app):
    built = build_case(app)
    with_email(app, built)
    tomorrow = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 07:00 in Taipei
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        night = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
        waiting = service.send_message(
            session, case, Channel.SMS, actor=AGENT, moment=night, schedule=True
        )
        assert waiting.outcome is service.Outcome.SCHEDULED
        # The sender does not run on the 1st; on the 2nd agents use the day's messages.
        second_day = tomorrow + timedelta(days=1, hours=1)
        for channel in (Channel.SMS, Channel.EMAIL):
            sent = service.send_message(session, case, channel, actor=AGENT, moment=second_day)
            assert sent.outcome is service.Outcome.SENT
        done = service.dispatch_due(session, second_day + timedelta(minutes=5))
    assert (done.sent, done.rescheduled) == (0, 1)
    moved = messages(app, id=waiting.message_id)[0]
    assert moved.status == "scheduled"
    assert moved.send_at.replace(tzinfo=UTC) == tomorrow + timedelta(days=2)


def test_an_interrupted_send_is_marked_failed_and_never_sent_again(app):
    built = build_case(app)
    with app.app_context():
        session = db.session()
        session.add(
            Message(
                case_id=built.case_id,
                borrower_id=built.borrower_id,
                channel="sms",
                purpose="reminder",
                address="+886 912 345 678",
                locale="zh_Hant_TW",
                status="sending",
                send_at=NOW - timedelta(minutes=30),
                created_by=AGENT,
                created_at=NOW - timedelta(minutes=30),
            )
        )
        session.commit()
    with app.test_request_context("/"):
        done = service.dispatch_due(db.session(), NOW)
    assert (done.interrupted, done.sent) == (1, 0)
    [stale] = messages(app)
    assert (stale.status, stale.error) == ("failed", "interrupted")


# Offers --------------------------------------------------------------------------------------


def add_offer(app, built, *, expires=NOW + timedelta(days=7), status="ready"):
    with app.app_context():
        session = db.session()
        offer = Offer(
            case_id=built.case_id,
            status=status,
            terms={
                "kind": "arrears_plan",
                "first_due_date": "2026-11-30",
                "installments": 3,
                "frequency": "monthly",
            },
            created_by=AGENT,
            created_at=NOW,
            expires_at=expires,
        )
        session.add(offer)
        session.commit()
        return offer.id


def test_an_offer_goes_out_as_its_own_link_and_only_while_it_is_open(app):
    built = build_case(app, locale="en", name="Amy Chen")
    with_email(app, built)
    other = build_case(app, name="別人")
    foreign = add_offer(app, other)
    # Past its expiry, not yet written down by the daily work.
    expired = add_offer(app, built, expires=NOW - timedelta(hours=1))
    client = agent_client(app)
    assert send(client, built, "email", offer_id=str(foreign)).status_code == 404
    assert send(client, built, "email", offer_id="abc").status_code == 404
    stale = send(client, built, "email", offer_id=str(expired))
    assert stale.status_code == 422
    assert "no longer open" in stale.get_data(as_text=True)
    with app.app_context():  # the daily work; then a new offer (one open offer per case)
        db.session().get(Offer, expired).status = "expired"
        db.session().commit()
    offer_id = add_offer(app, built)
    assert send(client, built, "email", offer_id=str(offer_id)).status_code == 303
    [sent] = messages(app)
    assert (sent.purpose, sent.offer_id) == ("offer", offer_id)
    assert "open until December 7, 2026" in sent.body
    assert "Spread the overdue amount" in sent.body
    with app.app_context():
        link = db.session().get(ReminderLink, sent.link_id)
        assert (link.purpose, link.offer_id) == ("offer", offer_id)


# Words ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "sms_word", "email_word", "most_parts"),
    [
        ("zh_Hant_TW", "簡訊", "逾期", 3),
        ("zh_Hans_CN", "短信", "逾期", 3),
        ("en", "SMS", "overdue", 2),
    ],
)
def test_every_message_is_in_the_borrowers_language_carries_its_opt_out_and_sms_stay_discreet(
    app, locale, sms_word, email_word, most_parts
):
    app.config["PUBLIC_URL"] = "https://pay.haohuan.tw"
    built = build_case(app, locale=locale)
    offer_id = add_offer(app, built)
    # The agent's console is in English; the messages are in the borrower's language.
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        session = db.session()
        case = session.get(Case, built.case_id)
        offer = session.get(Offer, offer_id)
        for channel in (Channel.SMS, Channel.EMAIL):
            opt_out = opt_out_url(built.borrower_id, channel)
            for with_offer in (None, offer):
                words = compose(
                    session,
                    case,
                    channel,
                    NOW,
                    link="https://pay.haohuan.tw/r/" + "x" * 43,
                    opt_out=opt_out,
                    offer=with_offer,
                )
                assert words.locale == locale
                assert opt_out in words.text
                if channel is Channel.SMS:
                    assert sms_word in words.text
                    # Discreet: nothing a lock screen should show to someone else.
                    assert "NT$" not in words.text
                    assert "overdue" not in words.text.lower()
                    assert "逾期" not in words.text
                    assert sms_parts(words.text) <= most_parts, (words.text, sms_parts(words.text))
                else:
                    assert email_word in words.text
                    assert "NT$" in words.text
                    assert "逾期" not in (words.subject or "")


def test_sms_parts_are_counted_as_phones_send_them():
    assert sms_parts("a" * 160) == 1
    assert sms_parts("a" * 161) == 2
    assert sms_parts("a" * 306) == 2
    assert sms_parts("[" * 80) == 1  # an extension character takes two septets
    assert sms_parts("[" * 81) == 2
    assert sms_parts("好" * 70) == 1
    assert sms_parts("好" * 71) == 2
    assert sms_parts("好" * 134) == 2
    assert sms_parts("好" * 135) == 3


# The console's pages --------------------------------------------------------------------------


def test_the_outbox_shows_what_was_kept_and_its_viewing_is_audited(app):
    built = build_case(app)
    client = agent_client(app)
    send(client, built, "sms")
    page = client.get("/agent/outbox")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "+886 9** *** 678" in text
    assert "+886 912 345 678" not in text
    # The link opens the borrower's case: masked, like their details, until revealed.
    assert not re.search(r"/r/[A-Za-z0-9_-]{43}", text)
    assert "http://localhost/r/…" in text
    assert client.get("/agent/outbox?status=nonsense&page=x").status_code == 200
    # Digits that are not ASCII (a superscript, Arabic-Indic) are no page number either.
    for odd in ("²", "٣", "9999999999999999999999"):
        assert client.get("/agent/outbox", query_string={"page": odd}).status_code == 200
    assert client.get("/agent/messages/999999").status_code == 404
    assert client.get("/agent/bulk/999999").status_code == 404
    assert {"outbox.view", "message.send"} <= set(audit_actions(app))
    section = client.get(f"/agent/cases/{built.case_id}/messages").get_data(as_text=True)
    assert "Allowed now" in section
    assert client.get("/agent/cases/999999/messages").status_code == 404
    assert send(client, built, "fax").status_code == 422


@given(
    name=st.text(alphabet="陳怡君王伟林志明ChanKaYn ", min_size=2, max_size=12).filter(
        lambda n: len(n.strip()) >= 2
    ),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_a_name_in_a_message_never_shows_through_its_mask(name, before, after):
    masked = mask_text(f"{before}{name}{after}", name=name)
    assert name.strip() not in masked or mask_name(name) == name.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dear 陳怡君, pay NT$300.", "Dear 陳**, pay NT$300."),
        ("Dear 陳 怡 君,", "Dear 陳**,"),
        ("Mail MEI.LIN@example.com", "Mail m***@example.com"),
        ("Call +886 912 345 678", "Call +886 9** *** 678"),
        ("106 台北市大安區, 忠孝東路四段 100 號", "106******, 忠孝東******"),
        ("Open https://p.example/r/AbC_12-x or /opt-out/x.y-z", None),
    ],
)
def test_message_masking_covers_each_personal_datum(text, expected):
    masked = hide_link_tokens(
        mask_text(
            text,
            name="陳怡君",
            phone="+886 912 345 678",
            email="mei.lin@example.com",
            address="106 台北市大安區\n忠孝東路四段 100 號",
        )
    )
    if expected is None:
        assert masked == "Open https://p.example/r/… or /opt-out/…"
    else:
        assert masked == expected


def test_message_words_are_masked_for_every_agent_and_revealing_them_is_recorded(app):
    built = build_case(app, locale="en", name="Amy Chen")
    with_email(app, built, "amy.chen@example.com")
    with app.app_context():
        session = db.session()
        borrower = session.get(Case, built.case_id).loan.borrower
        borrower.postal_address = "Flat 12B, Tower 3\n23 Tai Hang Road"
        session.commit()
    client = agent_client(app)
    assert send(client, built, "email").status_code == 303
    [sent] = messages(app)
    with app.app_context():
        # A body that names every personal datum, as a letter's copy or a reply would.
        stored = db.session().get(Message, sent.id)
        stored.body += (
            "\nAmy Chen, amy.chen@example.com, +886 912 345 678, 23 Tai Hang Road"
            "\nAMY.CHEN@EXAMPLE.COM"
        )
        db.session().commit()
        full = stored.body
    token = re.search(r"/r/([A-Za-z0-9_-]{43})", full).group(1)
    personal = ("Amy Chen", "amy.chen@example.com", "AMY.CHEN@EXAMPLE.COM", "912 345", "Tai Hang")
    for page in (client.get("/agent/outbox"), client.get(f"/agent/messages/{sent.id}")):
        text = page.get_data(as_text=True)
        for datum in (*personal, token):
            assert datum not in text
        assert "A*** C***" in text
        assert "a***@example.com" in text
    assert "message.reveal" not in audit_actions(app)
    # Revealing is a POST with the CSRF token, recorded each time, shown for that page only.
    revealed = client.post(f"/agent/messages/{sent.id}/reveal")
    assert revealed.status_code == 200
    text = revealed.get_data(as_text=True)
    for datum in (*personal, token):
        assert datum in text
    assert f'href="http://localhost/r/{token}"' in text
    assert "Your viewing was recorded in the audit log." in text
    with app.app_context():
        [entry] = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "message.reveal"))
            .all()
        )
        assert (entry.actor, entry.case_id, entry.details) == (
            AGENT,
            built.case_id,
            {"message_id": sent.id},
        )
    assert token not in client.get(f"/agent/messages/{sent.id}").get_data(as_text=True)
    assert client.post("/agent/messages/999999/reveal").status_code == 404
    assert client.get(f"/agent/messages/{sent.id}/reveal").status_code == 405


# Configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"SMS_PROVIDER": "carrier-pigeon"}, "unknown SMS_PROVIDER"),
        ({"SMS_PROVIDER": "http"}, "SMS_PROVIDER=http needs SMS_HTTP_URL"),
        (
            {
                "SMS_PROVIDER": "http",
                "SMS_HTTP_URL": "http://sms.example.com/send",
                "SMS_HTTP_TOKEN": "t",
                "SMS_SENDER": "Haohuan",
            },
            "must use https",
        ),
        ({"EMAIL_PROVIDER": "smtp"}, "EMAIL_PROVIDER=smtp needs SMTP_HOST, MAIL_FROM"),
        (
            {
                "EMAIL_PROVIDER": "smtp",
                "SMTP_HOST": "mail.example.com",
                "MAIL_FROM": "a@example.com",
                "SMTP_SECURITY": "none",
                "SMTP_USERNAME": "me",
            },
            "password in clear",
        ),
        (
            {"EMAIL_PROVIDER": "smtp", "SMTP_HOST": "mail.example.com", "MAIL_FROM": "nobody"},
            "MAIL_FROM must be an email address",
        ),
        (
            {
                "EMAIL_PROVIDER": "smtp",
                "SMTP_HOST": "mail.example.com",
                "MAIL_FROM": "a@example.com",
                "SMTP_TIMEOUT": "forever",
            },
            "SMTP_TIMEOUT must be a number",
        ),
        ({"PUBLIC_URL": "pay.haohuan.example"}, "HAOHUAN_PUBLIC_URL must be an http"),
    ],
)
def test_the_app_refuses_to_start_with_message_settings_that_cannot_work(
    tmp_path, settings, complaint
):
    config = {**app_config(f"sqlite:///{tmp_path}/h.db"), **settings}
    with pytest.raises(ConfigurationError, match=complaint):
        create_app(config)


def test_production_sends_only_with_the_public_address_of_the_borrowers_site(tmp_path):
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
        # Production runs on the real clock (a frozen one is refused there).
        "HAOHUAN_NOW": "",
    }
    # The outbox reaches nobody: refused for SMS here, as for email before SMTP was named.
    with pytest.raises(ConfigurationError, match="SMS_PROVIDER=outbox is refused in production"):
        create_app({**config, "PUBLIC_URL": "https://pay.haohuan.example"})
    sms = {
        "SMS_PROVIDER": "http",
        "SMS_HTTP_URL": "https://api.sms.example/send",
        "SMS_HTTP_TOKEN": "token",
        "SMS_SENDER": "Haohuan",
    }
    with pytest.raises(ConfigurationError, match="HAOHUAN_PUBLIC_URL"):
        create_app({**config, **sms})
    app = create_app({**config, **sms, "PUBLIC_URL": "https://pay.haohuan.example"})
    assert app.extensions["haohuan.messaging"].email.name == "smtp"
    assert app.extensions["haohuan.messaging"].sms.name == "http"


class HoldWhileSending(OutboxSms):
    """An outbox SMS provider during whose answer the borrower declares a dispute in the
    portal (another session, committed), as may happen while the sender runs."""

    def __init__(self, app, case_id):
        self.app = app
        self.case_id = case_id

    def send(self, to, body, reference):
        with self.app.extensions["haohuan.sessions"]() as other:
            place_hold(other, other.get(Case, self.case_id), "dispute", "not mine", NOW)
        return super().send(to, body, reference)


def test_a_hold_declared_while_the_sender_runs_stops_the_cases_next_message(app):
    built = build_case(app)
    with_email(app, built)
    night = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 23:00 in Taipei
    morning = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        for channel in (Channel.SMS, Channel.EMAIL):
            waiting = service.send_message(
                session, case, channel, actor=AGENT, moment=night, schedule=True
            )
            assert waiting.outcome is service.Outcome.SCHEDULED
    configured = app.extensions["haohuan.messaging"]
    app.extensions["haohuan.messaging"] = Providers(
        sms=HoldWhileSending(app, built.case_id), email=configured.email
    )
    with app.test_request_context("/"):
        done = service.dispatch_due(db.session(), morning)
    # The SMS went before the dispute; the email, judged after it, must not go.
    assert (done.sent, done.cancelled) == (1, 1)
    sms, email = messages(app)
    assert (sms.channel, sms.status) == ("sms", "sent")
    assert (email.channel, email.status, email.error) == ("email", "cancelled", "on_hold")


def test_a_hold_committed_before_the_lock_is_taken_refuses_the_message(app):
    # The agent's request read the case, then the borrower's dispute was committed, then
    # the send took the case's lock: the rules must judge the case as it is under the
    # lock, not as the request first read it.
    built = build_case(app)
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        assert case.hold is None
        with app.extensions["haohuan.sessions"]() as borrower_side:
            place_hold(
                borrower_side, borrower_side.get(Case, built.case_id), "dispute", "not mine", NOW
            )
        result = service.send_message(session, case, Channel.SMS, actor=AGENT, moment=NOW)
    assert result.outcome is service.Outcome.REFUSED
    assert [r.value for r in result.decision.reasons] == ["on_hold"]
    assert messages(app) == []


@pytest.mark.postgres_only
def test_two_agents_on_two_cases_of_one_borrower_share_the_days_last_message(app, backend):
    # The caps are the borrower's, across their loans: an agent sending on one case
    # waits for another agent's send on the borrower's other case, then counts it.
    first, second = build_case(app), build_case(app, name="陳怡君")
    with app.app_context():
        session = db.session()
        session.get(Case, second.case_id).loan.borrower_id = first.borrower_id
        session.commit()
        done = service.send_message(
            session, session.get(Case, first.case_id), Channel.SMS, actor=AGENT, moment=NOW
        )
        assert done.outcome is service.Outcome.SENT
    results = []

    def other_agent():
        with app.test_request_context("/"):
            own = db.session()
            case = own.get(Case, second.case_id)
            results.append(
                service.send_message(own, case, Channel.SMS, actor=OTHER_AGENT, moment=NOW)
            )

    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, first.case_id)
        # The first agent's contact, judged and recorded, not yet committed.
        assert judge(session, case, Channel.SMS, NOW, lock=True).allowed
        record_attempt(session, case, Channel.SMS, NOW, AGENT, outcome="sent")
        session.flush()
        racing = threading.Thread(target=other_agent)
        racing.start()
        racing.join(timeout=1)
        session.commit()
    racing.join(timeout=30)
    assert [r.outcome for r in results] == [service.Outcome.REFUSED]
    assert [r.value for r in results[0].decision.reasons] == ["messages_per_day"]


@pytest.mark.parametrize(("lang", "named"), [("zh_Hant_TW", "寄件匣"), ("zh_Hans_CN", "发件箱")])
def test_the_outbox_provider_is_named_in_the_pages_language_not_by_its_code(app, lang, named):
    # Found walking the console: "服務商 outbox · outbox-1" on a Chinese message page.
    built = build_case(app)
    client = agent_client(app)
    assert send(client, built, "sms").status_code == 303
    [sent] = messages(app)
    page = client.get(f"/agent/messages/{sent.id}?lang={lang}").get_data(as_text=True)
    provider = re.search(r"<dd class=\"code\">([^<]*)</dd>", page)
    shown = re.search(r"<dt>[^<]*</dt><dd[^>]*>([^<]*· outbox-\d+)</dd>", page)
    assert shown is not None, provider
    assert "outbox ·" not in shown.group(1)
    assert named in shown.group(1)


def test_opening_a_cases_messages_page_is_a_recorded_view_of_the_case(app):
    # Found walking the console: the outbox records its reads (outbox.view), but the
    # case's own page of reminders, with the same messages and addresses, did not.
    built = build_case(app)
    client = agent_client(app)
    assert send(client, built, "sms").status_code == 303
    before = audit_actions(app)
    assert client.get(f"/agent/cases/{built.case_id}/messages").status_code == 200
    with app.app_context():
        entries = db.session().scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        added = [(e.action, e.case_id, e.details) for e in entries[len(before) :]]
    assert added == [("case.view", built.case_id, {"page": "messages"})]
