"""Inbound SMS: a signed reply of STOP (or 退訂, 退订...) from the provider's webhook opts
every borrower with that number out of SMS, and no one else; a forged signature or a
replayed delivery changes nothing; other words never opt out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from negotiation.contact import Channel, ContactRefusal
from portal.core import db
from portal.messaging import inbound, service
from portal.models import Borrower, Case, InboundSms, Message, OptOut

from .factories import NOW, build_case

TOKEN = "twilio-auth-token"
URL = "http://localhost/webhooks/sms/inbound"
SENDER = "+886912345678"


def twilio_sign(params, token=TOKEN, url=URL):
    """The signature as Twilio's own helper library computes it (RequestValidator)."""
    joined = url + "".join(key + params[key] for key in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), joined.encode(), hashlib.sha1).digest())


def post_sms(client, body, *, sender=SENDER, sid=None, token=TOKEN, signature=None):
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+886900000000",
        "Body": body,
        "NumMedia": "0",
    }
    headers = {}
    if signature is not False:
        headers["X-Twilio-Signature"] = signature or twilio_sign(params, token).decode()
    return client.post("/webhooks/sms/inbound", data=params, headers=headers)


@pytest.fixture
def extra_config():
    return {"SMS_INBOUND_AUTH_TOKEN": TOKEN}


def with_phones(app, *phones, jurisdiction=None):
    """One borrower (with a case and an email) per phone, in order."""
    built = []
    for index, phone in enumerate(phones):
        case = build_case(app, name=f"借款人{index}")
        with app.app_context():
            session = db.session()
            borrower = session.get(Borrower, case.borrower_id)
            borrower.phone = phone
            borrower.email = f"b{index}@haohuan.example"
            if jurisdiction:
                borrower.jurisdiction = jurisdiction
            session.commit()
        built.append(case)
    return built


def sms_opt_outs(app):
    with app.app_context():
        rows = db.session().scalars(select(OptOut).order_by(OptOut.borrower_id)).all()
        return [(row.borrower_id, row.channel, row.source) for row in rows if row.lifted_at is None]


def send(app, built, channel, schedule=False, moment=NOW):
    with app.test_request_context("/"):
        session = db.session()
        return service.send_message(
            session,
            session.get(Case, built.case_id),
            channel,
            actor="agent@haohuan.example",
            moment=moment,
            schedule=schedule,
        )


# The signature ------------------------------------------------------------------------------


def test_the_signature_is_twilios():
    # The example Twilio's own helper library tests itself with (twilio-python,
    # tests/unit/test_request_validator.py): its token, URL, parameters and results.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert inbound.twilio_signature("12345", url, params.items()) == expected
    assert inbound.twilio_signed("12345", url, params.items(), expected)
    assert not inbound.twilio_signed("12345", url, params.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8x")
    assert not inbound.twilio_signed("", url, params.items(), expected)
    # A name given twice: each value, in order.
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert inbound.twilio_signature("12345", url, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


# The webhook -----------------------------------------------------------------------------


def test_a_signed_stop_opts_out_every_borrower_with_that_number_and_no_one_else(app):
    first, second, other = with_phones(app, "+886 912 345 678", "0912-345-678", "+886 922 000 111")
    response = post_sms(app.test_client(), "STOP")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.get_data(as_text=True).endswith("<Response/>")
    assert sms_opt_outs(app) == [
        (first.borrower_id, "sms", inbound.SOURCE),
        (second.borrower_id, "sms", inbound.SOURCE),
    ]
    # The other borrower is still reached by SMS.
    assert send(app, other, Channel.SMS).outcome is service.Outcome.SENT


def test_a_local_number_of_another_country_is_not_the_senders(app):
    # 0912 345 678 is the sender's number written in Taiwan; a mainland borrower's
    # number with those digits is someone else's.
    (_,) = with_phones(app, "0912345678", jurisdiction="CN")
    assert post_sms(app.test_client(), "STOP").status_code == 200
    assert sms_opt_outs(app) == []


@pytest.mark.parametrize(
    "body", ["stop", "ＳＴＯＰ", " Unsubscribe! ", "退訂", "退订。", "取消訂閱"]
)
def test_each_keyword_through_the_webhook_opts_out(app, body):
    [built] = with_phones(app, SENDER)
    assert post_sms(app.test_client(), body).status_code == 200
    assert sms_opt_outs(app) == [(built.borrower_id, "sms", inbound.SOURCE)]


def test_other_words_through_the_webhook_change_nothing(app):
    with_phones(app, SENDER)
    for body in ("Hello, I will pay on Friday", "stop calling", "好的"):
        assert post_sms(app.test_client(), body).status_code == 200
    assert sms_opt_outs(app) == []
    with app.app_context():
        assert db.session().scalar(select(func.count(InboundSms.id))) == 3


@pytest.mark.parametrize("how", ["forged", "missing", "other token", "tampered"])
def test_a_forged_or_missing_signature_is_refused_and_changes_nothing(app, how):
    with_phones(app, SENDER)
    client = app.test_client()
    if how == "forged":
        response = post_sms(client, "STOP", signature="RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    elif how == "missing":
        response = post_sms(client, "STOP", signature=False)
    elif how == "other token":
        response = post_sms(client, "STOP", token="guessed")
    else:
        # Signed for one body, sent with another.
        params = {"MessageSid": "SM1", "From": SENDER, "Body": "hello"}
        signature = twilio_sign(params).decode()
        response = client.post(
            "/webhooks/sms/inbound",
            data={**params, "Body": "STOP"},
            headers={"X-Twilio-Signature": signature},
        )
    assert response.status_code == 403
    assert sms_opt_outs(app) == []
    with app.app_context():
        assert db.session().scalar(select(func.count(InboundSms.id))) == 0


def test_without_the_token_the_webhook_is_not_found(app):
    with_phones(app, SENDER)
    app.config["SMS_INBOUND_AUTH_TOKEN"] = ""
    assert post_sms(app.test_client(), "STOP").status_code == 404
    assert sms_opt_outs(app) == []


def test_a_replay_does_nothing_twice(app):
    [built] = with_phones(app, SENDER)
    client = app.test_client()
    assert post_sms(client, "STOP", sid="SMreplayed").status_code == 200
    assert len(sms_opt_outs(app)) == 1
    # An agent lifts it with the borrower's consent; the same delivery again (Twilio's
    # retry, or a captured request replayed) does not opt them out a second time.
    with app.test_request_context("/"):
        service.lift(
            db.session(), built.borrower_id, Channel.SMS, NOW, actor="agent@haohuan.example"
        )
    assert post_sms(client, "STOP", sid="SMreplayed").status_code == 200
    assert sms_opt_outs(app) == []
    with app.app_context():
        [row] = db.session().scalars(select(InboundSms)).all()
        assert (row.message_sid, row.stop, row.opted_out) == ("SMreplayed", True, 1)
        assert db.session().scalar(select(func.count(OptOut.id))) == 1


def test_after_a_stop_the_gate_refuses_sms_and_email_still_goes(app):
    [built] = with_phones(app, SENDER)
    # A reminder asked for at night waits for the morning; the reply cancels it.
    night = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 23:00 in Taipei
    scheduled = send(app, built, Channel.SMS, schedule=True, moment=night)
    assert scheduled.outcome is service.Outcome.SCHEDULED
    assert post_sms(app.test_client(), "退訂").status_code == 200
    refused = send(app, built, Channel.SMS)
    assert refused.outcome is service.Outcome.REFUSED
    assert ContactRefusal.OPTED_OUT in refused.decision.reasons
    assert refused.decision.allowed_from is None
    assert send(app, built, Channel.EMAIL).outcome is service.Outcome.SENT
    with app.app_context():
        messages = db.session().scalars(select(Message).order_by(Message.id)).all()
        assert [(m.channel, m.status, m.error) for m in messages] == [
            ("sms", "cancelled", "opted_out"),
            ("email", "sent", None),
        ]


def test_the_agents_see_where_the_opt_out_came_from(app):
    from tests.portal.test_messaging import agent_client

    [built] = with_phones(app, SENDER)
    assert post_sms(app.test_client(), "STOP").status_code == 200
    page = agent_client(app).get(f"/agent/cases/{built.case_id}/messages")
    assert "Replied STOP to an SMS" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "extra_config", [{"SMS_INBOUND_AUTH_TOKEN": TOKEN, "RATE_LIMITS": "webhook=3/60"}]
)
def test_a_forged_flood_is_refused_once_its_allowance_is_spent_and_signed_replies_are_not(
    app, monkeypatch
):
    with_phones(app, SENDER)
    client = app.test_client()
    # The provider's own, signed, never count: many at once are all answered.
    assert {post_sms(client, "hello").status_code for _ in range(10)} == {200}
    checked = []
    real = inbound.twilio_signed

    def counting(*args):
        checked.append(args)
        return real(*args)

    monkeypatch.setattr(inbound, "twilio_signed", counting)
    answers = [post_sms(client, "STOP", token="guessed").status_code for _ in range(6)]
    assert answers[:3] == [403, 403, 403]
    assert set(answers[3:]) == {429}
    # Refused before the signature is checked again, and the flood changed nothing.
    assert len(checked) == 3
    assert sms_opt_outs(app) == []


def test_a_body_past_the_limit_is_refused_before_it_is_read(app):
    with_phones(app, SENDER)
    params = {"MessageSid": "SMbig", "From": SENDER, "Body": "STOP", "Pad": "x" * 70_000}
    response = app.test_client().post(
        "/webhooks/sms/inbound",
        data=params,
        headers={"X-Twilio-Signature": twilio_sign(params).decode()},
    )
    assert response.status_code == 413
    assert sms_opt_outs(app) == []
    # The longest SMS there is, in Chinese, is well inside it.
    assert post_sms(app.test_client(), "請" * 1600).status_code == 200
