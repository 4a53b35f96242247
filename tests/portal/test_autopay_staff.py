"""Automatic plan payments as the borrower is told of them and as staff see them: the
four notices in the borrower's language (a discreet SMS, an email with the amounts and
dates) and stale once their fact is gone; the case page's autopay section; finance's
payments list filtered to automatic charges, reconciled like any other; and the
plan-kept rate with and without autopay. Attempts are made by the run itself, on the
sandbox gateway's test cards, at the suite's frozen clock."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from flask_babel import force_locale
from sqlalchemy import select

from negotiation import AttemptOutcome
from negotiation.contact import Channel
from portal.cli import cli
from portal.core import db
from portal.core.i18n import long_date, money
from portal.demo.seed import accept_arrears_plan
from portal.finance.plan_keeping import plan_keeping
from portal.finance.reconcile import reconcile_with
from portal.messaging import service
from portal.messaging.compose import borrower_locale
from portal.messaging.purposes import AUTOPAY_NOTICES, StaleMessageError
from portal.models import (
    AuditEntry,
    AutopayAttempt,
    Case,
    ContactAttempt,
    Message,
    MessageStatus,
    Payment,
    Plan,
    SavedCard,
)
from portal.payments import autopay
from portal.payments.autopay import (
    NOTICE_CARD_OFF,
    NOTICE_CONFIRM,
    NOTICE_FAILED,
    NOTICE_RETRY,
    MandateConsent,
)
from portal.payments.gateway import Charged
from portal.payments.sandbox import chosen_reference
from portal.payments.stripe_gateway import BalanceLine
from portal.web.agent.message_views import PURPOSE_NAMES

from .factories import NOW, TODAY, add_staff, build_case, staff_sign_in, unwrapped
from .test_finance_console import pay
from .test_reconcile import FakeStripe
from .test_strategy_templates import READERS, URL, _plan, check_words, compose_for

CONSENT = MandateConsent("127.0.0.1", "pytest", "zh_Hant_TW", "the mandate as shown")
ZONES = {"TWD": "Asia/Taipei", "CNY": "Asia/Shanghai", "HKD": "Asia/Hong_Kong"}


# Builders --------------------------------------------------------------------------------


def _card_page(app) -> None:
    if "sandbox.card" not in app.view_functions:
        # The sandbox's card page is the borrower's side: only its address is needed.
        app.add_url_rule("/sandbox/card/<reference>", "sandbox.card", lambda reference: "")


def save_card(app, case_id: int, card: str, moment: datetime = NOW) -> None:
    """The borrower saves the sandbox test card ending ``card`` (autopay on with it)."""
    _card_page(app)
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, case_id)
        setup = autopay.begin_setup(session, case, moment)
        chosen = chosen_reference(setup.reference, card)
        assert chosen is not None
        assert autopay.finish_setup(session, case, setup.customer_ref, chosen, moment)


def on_autopay(
    app,
    card: str = "4242",
    *,
    locale: str = "zh_Hant_TW",
    currency: str = "TWD",
    name: str = "陳怡君",
    first_due: date = TODAY,
    email: str | None = "amy@example.com",
) -> int:
    """A borrower with a plan whose first payment falls due on ``first_due`` (accepted
    that day), on autopay with the test card ``card``. The case's id."""
    built = build_case(app, locale=locale, currency=currency, name=name, timezone=ZONES[currency])
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        case.loan.borrower.email = email
        session.commit()
        moment = NOW - timedelta(days=(TODAY - first_due).days)
        accept_arrears_plan(session, case, first_due, moment, first_due=first_due)
        assert autopay.enroll(session, case, CONSENT, moment) is not None
    save_card(app, built.case_id, card, moment)
    return built.case_id


def at(day: date, hour: int = 10, zone: str = "Asia/Taipei") -> datetime:
    """``hour`` o'clock on ``day`` in ``zone``, in UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def run(app, moment: datetime = NOW):
    with app.app_context():
        return autopay.run(db.session(), moment)


def plan_of(session, case_id: int) -> Plan:
    return session.scalars(select(Plan).where(Plan.case_id == case_id)).one()


def notices(app, case_id: int) -> list[tuple[str, str]]:
    """The case's autopay notices: (purpose, status)."""
    with app.app_context():
        rows = db.session().execute(
            select(Message.purpose, Message.status)
            .where(Message.case_id == case_id, Message.purpose.in_(AUTOPAY_NOTICES))
            .order_by(Message.id)
        )
        return [(purpose, str(status)) for purpose, status in rows]


def arrange(app, purpose: str, **reader) -> int:
    """A case in the state the notice ``purpose`` speaks of, made by the run."""
    currency = reader.get("currency", "TWD")
    zone = ZONES[currency]
    if purpose == NOTICE_RETRY:
        case_id = on_autopay(app, "0341", **reader)
        run(app, at(TODAY, zone=zone))
    elif purpose == NOTICE_CONFIRM:
        case_id = on_autopay(app, "3184", **reader)
        run(app, at(TODAY, zone=zone))
    elif purpose == NOTICE_CARD_OFF:
        case_id = on_autopay(app, "0069", **reader)
        run(app, at(TODAY, zone=zone))
    else:
        # Declined on the due date, on the retry, and on the grace period's last day.
        case_id = on_autopay(app, "9995", first_due=TODAY - timedelta(days=5), **reader)
        for back in (5, 2, 0):
            run(app, at(TODAY - timedelta(days=back), zone=zone))
    assert notices(app, case_id)[-1] == (purpose, "scheduled"), notices(app, case_id)
    return case_id


def expected(app, case_id: int, purpose: str) -> list[str]:
    """The amount and the dates the email must state, in the borrower's language."""
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, case_id)
        plan = plan_of(session, case_id)
        first = plan.installments[0]
        with force_locale(borrower_locale(case)):
            amount, due = money(first.amount, plan.currency), long_date(first.due_date)
            return {
                # Tried again 3 days after the due date.
                NOTICE_RETRY: [amount, due, long_date(first.due_date + timedelta(days=3))],
                # Pay by the grace period's last day (5 days).
                NOTICE_CONFIRM: [amount, due, long_date(first.due_date + timedelta(days=5))],
                NOTICE_CARD_OFF: [case.loan.number, "0069"],
                NOTICE_FAILED: [amount, due, long_date(TODAY)],
            }[purpose]


# The words -------------------------------------------------------------------------------


def test_the_notices_fit_the_purpose_column_and_the_console_names_them():
    assert len(AUTOPAY_NOTICES) == 4
    assert all(len(p) <= Message.__table__.c.purpose.type.length for p in AUTOPAY_NOTICES)
    assert all(p in PURPOSE_NAMES for p in AUTOPAY_NOTICES)


@pytest.mark.parametrize(("locale", "currency", "name", "most_parts"), READERS)
def test_every_notice_speaks_the_borrowers_language_and_its_sms_stays_discreet(
    app, locale, currency, name, most_parts
):
    reader = {"locale": locale, "currency": currency, "name": name}
    for purpose in sorted(AUTOPAY_NOTICES):
        case_id = arrange(app, purpose, **reader)
        sms = compose_for(app, case_id, purpose, Channel.SMS)
        email = compose_for(app, case_id, purpose, Channel.EMAIL)
        check_words(sms, email, locale, currency, most_parts, expected(app, case_id, purpose))
        # Not even the card is named in an SMS.
        assert not re.search(r"card|卡", URL.sub("", sms.text)), (purpose, sms.text)
        if locale != "en":
            # Every sentence is translated: no English word is left in the body.
            body = URL.sub("", email.text)
            assert not re.search(r"\b(the|your|card|automatic)\b", body, re.I), body


def test_the_emails_say_what_happened_and_what_to_do_in_english(app):
    reader = {"locale": "en", "name": "Amy Chen"}
    for purpose, facts in {
        NOTICE_RETRY: [
            "The automatic payment of NT$",
            "due on November 30, 2026 was declined by your card's bank.",
            "We will try to charge your card again on December 3, 2026.",
        ],
        NOTICE_CONFIRM: [
            "Your card's bank asks you to confirm the automatic payment of NT$",
            "It will not be tried again by itself",
            "by December 5, 2026.",
            "Confirm and pay:",
        ],
        NOTICE_CARD_OFF: [
            "The card ending in 0069 can no longer be charged, so automatic payments of your "
            "plan for loan LN-T-",
            "add another card; or pay each installment yourself",
        ],
        NOTICE_FAILED: [
            "due on November 25, 2026 was declined by your card's bank.",
            "This was the last automatic try: it will not be charged again.",
            "by November 30, 2026.",
        ],
    }.items():
        case_id = arrange(app, purpose, **reader)
        email = compose_for(app, case_id, purpose, Channel.EMAIL).text
        assert email.startswith("Hello Amy Chen,\n")
        for fact in facts:
            assert fact in email, (purpose, fact, email)


def test_the_last_try_says_the_plan_is_at_risk_under_its_rules(app):
    # The policy breaks a plan on its second miss: the first installment's last try
    # failed, so it is the first miss, and the plan is not yet at risk ...
    case_id = arrange(app, NOTICE_FAILED, locale="en", name="Amy Chen")
    first = compose_for(app, case_id, NOTICE_FAILED, Channel.EMAIL).text
    assert "To keep your plan, pay NT$" in first
    assert "at risk" not in first
    # ... unless a payment of the plan was already missed.
    with app.app_context():
        session = db.session()
        plan = plan_of(session, case_id)
        plan.status = "active"
        extra = plan.installments[-1]
        extra.missed_on = TODAY - timedelta(days=1)
        session.commit()
    second = compose_for(app, case_id, NOTICE_FAILED, Channel.EMAIL).text
    assert "Your plan is at risk: if this is not paid by November 30, 2026" in second


# Stale notices ---------------------------------------------------------------------------


def _pay_first(session, case_id: int) -> None:
    item = plan_of(session, case_id).installments[0]
    item.paid = item.amount


def _off(session, case_id: int) -> None:
    autopay.turn_off(session, session.get(Case, case_id), NOW)


@pytest.mark.parametrize(
    ("purpose", "change", "fact"),
    [
        (NOTICE_RETRY, _pay_first, "installment_paid"),
        (NOTICE_RETRY, _off, "autopay_off"),
        (NOTICE_CONFIRM, _pay_first, "installment_paid"),
        (NOTICE_FAILED, _pay_first, "installment_paid"),
    ],
)
def test_a_notice_whose_installment_was_paid_or_autopay_stopped_is_stale(
    app, purpose, change, fact
):
    case_id = arrange(app, purpose, locale="en", name="Amy Chen")
    with app.app_context():
        change(db.session(), case_id)
        db.session().commit()
    for channel in (Channel.SMS, Channel.EMAIL):
        with pytest.raises(StaleMessageError) as raised:
            compose_for(app, case_id, purpose, channel)
        assert (raised.value.purpose, raised.value.fact) == (purpose, fact)


def test_a_retry_notice_is_stale_once_the_retry_was_made(app):
    case_id = arrange(app, NOTICE_RETRY, locale="en", name="Amy Chen")
    later = at(TODAY + timedelta(days=3))
    save_card(app, case_id, "4242", later)
    assert run(app, later).charged == 1
    with pytest.raises(StaleMessageError) as raised:
        compose_for(app, case_id, NOTICE_RETRY, Channel.EMAIL, later)
    assert raised.value.fact == "attempt_superseded"


def test_a_card_off_notice_is_stale_once_another_card_turns_autopay_on_again(app):
    case_id = arrange(app, NOTICE_CARD_OFF, locale="en", name="Amy Chen")
    assert compose_for(app, case_id, NOTICE_CARD_OFF, Channel.SMS).text
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, case_id)
        # Consent again, then a card: a new mandate, on.
        autopay.enroll(session, case, CONSENT, NOW)
    save_card(app, case_id, "4242")
    with pytest.raises(StaleMessageError) as raised:
        compose_for(app, case_id, NOTICE_CARD_OFF, Channel.EMAIL)
    assert raised.value.fact == "autopay_on"


def test_an_autopay_purpose_never_falls_back_to_the_reminder(app):
    # No plan at all: not the ordinary reminder's words, but stale.
    built = build_case(app, locale="en", name="Amy Chen")
    for purpose in AUTOPAY_NOTICES:
        with pytest.raises(StaleMessageError) as raised:
            compose_for(app, built.case_id, purpose, Channel.SMS)
        assert raised.value.fact == "no_plan"


# The sender ------------------------------------------------------------------------------


def dispatch(app, moment: datetime):
    with app.test_request_context("/"):
        return service.dispatch_due(db.session(), moment)


def test_the_sender_sends_a_notice_through_the_contact_rules(app):
    case_id = arrange(app, NOTICE_RETRY, locale="en", name="Amy Chen")
    counts = dispatch(app, NOW)
    assert counts.sent == 1
    assert notices(app, case_id) == [(NOTICE_RETRY, "sent")]
    with app.app_context():
        session = db.session()
        message = session.scalars(select(Message).where(Message.case_id == case_id)).one()
        assert message.channel == "email"
        assert "declined" in (message.body or "")
        # Like every message: an attempt on the contact log, and the send audited.
        assert session.scalars(
            select(ContactAttempt).where(ContactAttempt.message_id == message.id)
        ).one()
        sent = session.scalars(select(AuditEntry).where(AuditEntry.action == "message.send"))
        assert [entry.details["purpose"] for entry in sent] == [NOTICE_RETRY]


def test_the_sender_waits_for_the_borrowers_hours_and_cancels_a_stale_notice(app):
    # Queued late in the evening (a run at 20:59), the notice waits for the morning.
    case_id = arrange(app, NOTICE_CONFIRM, locale="en", name="Amy Chen")
    night = at(TODAY, 23)
    assert dispatch(app, night).rescheduled == 1
    with app.app_context():
        session = db.session()
        message = session.scalars(select(Message).where(Message.case_id == case_id)).one()
        assert message.status == MessageStatus.SCHEDULED
        assert message.send_at.replace(tzinfo=UTC) > night
        send_at = message.send_at.replace(tzinfo=UTC)
        # Paid by hand meanwhile: the notice is no longer true when its time comes.
        _pay_first(session, case_id)
        session.commit()
    counts = dispatch(app, send_at)
    assert (counts.sent, counts.cancelled) == (0, 1)
    assert notices(app, case_id) == [(NOTICE_CONFIRM, "cancelled")]
    with app.app_context():
        cancel = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "message.cancel"))
            .one()
        )
        assert cancel.details["fact"] == "installment_paid"


def test_a_notice_goes_by_sms_to_a_borrower_who_stopped_email_or_has_none(app):
    stopped = on_autopay(app, "0069", locale="en", name="Amy Chen")
    with app.app_context():
        session = db.session()
        borrower_id = session.get(Case, stopped).loan.borrower_id
        assert service.opt_out(session, borrower_id, Channel.EMAIL, NOW, source="link")
    without = on_autopay(app, "0069", locale="en", name="Ben Lin", email=None)
    assert run(app, NOW).cards_off == 2
    assert dispatch(app, NOW).sent == 2
    with app.app_context():
        for case_id in (stopped, without):
            message = db.session().scalars(select(Message).where(Message.case_id == case_id)).one()
            assert message.channel == "sms"
            assert "card" not in (message.body or "").lower()


def test_the_attempts_rows_are_the_runs_own(app):
    # What the builders above rely on: the run made the attempts, on the test cards.
    case_id = arrange(app, NOTICE_FAILED, locale="en", name="Amy Chen")
    with app.app_context():
        session = db.session()
        rows = session.scalars(select(AutopayAttempt).order_by(AutopayAttempt.id)).all()
        assert [(a.number, str(a.outcome), a.decline_code) for a in rows] == [
            (1, "declined", "insufficient_funds"),
            (2, "declined", "insufficient_funds"),
            (3, "declined", "insufficient_funds"),
        ]
        card = session.scalars(select(SavedCard)).one()
        assert card.last4 == "9995"
        assert plan_of(session, case_id).installments[0].paid == 0


# The case page ---------------------------------------------------------------------------

AGENT = "ling@haohuan.example"


@pytest.fixture
def agent(app, client):
    """A signed-in agent (the card page's address set up before the first request)."""
    _card_page(app)
    add_staff(app, AGENT, ("agent",))
    assert staff_sign_in(client, AGENT).status_code == 303
    return client


def test_the_case_page_shows_autopay_on_and_each_attempt(app, agent):
    # Declined on the due date (the card 0341), then another card saved and the retry
    # three days later charged.
    case_id = on_autopay(app, "0341", first_due=TODAY - timedelta(days=3), locale="en")
    run(app, at(TODAY - timedelta(days=3)))
    save_card(app, case_id, "4242")
    assert run(app, NOW).charged == 1
    page = unwrapped(
        agent.get(f"/agent/cases/{case_id}?section=autopay&lang=en").get_data(as_text=True)
    )
    # Above the fold: a tag, linking to the section.
    assert re.search(
        r'class="status status-autopay-on" href="[^"]*section=autopay[^"]*">Autopay on<', page
    )
    section = page[page.index('id="autopay"') :]
    assert "Visa ending in 4242, expires 12/2034" in section
    assert "Visa ending in 0341" not in section  # replaced: the mandate moved to the new card
    rows = re.findall(r"<tr>\s*(.*?)</tr>", section, re.S)
    cells = [re.sub(r"<[^>]+>", "", row).split() for row in rows[1:]]
    assert [" ".join(c) for c in cells] == [
        "November 27, 2026 1 November 27, 2026 NT$1,145 Declined card_declined",
        "November 27, 2026 2 November 30, 2026 NT$1,145 Charged —",
    ], cells


def test_the_case_page_says_why_autopay_ended_in_each_language(app, agent):
    case_id = on_autopay(app, "4242", locale="en")
    with app.app_context():
        session = db.session()
        card = session.scalars(select(SavedCard)).one()
        card.exp_month, card.exp_year = 10, 2026  # expired before the due date
        session.commit()
    assert run(app, NOW).cards_off == 1
    wanted = {
        "en": ["Off", "the card expired"],
        "zh_Hant_TW": ["已關閉", "卡片已過期"],
        "zh_Hans_CN": ["已关闭", "银行卡已过期"],
    }
    for lang, words in wanted.items():
        page = agent.get(f"/agent/cases/{case_id}/sections/autopay?lang={lang}")
        assert page.status_code == 200
        text = unwrapped(page.get_data(as_text=True))
        for word in words:
            assert word in text, (lang, word)
    en = unwrapped(
        agent.get(f"/agent/cases/{case_id}/sections/autopay?lang=en").get_data(as_text=True)
    )
    assert "Visa ending in 4242, expires 10/2026 (expired)" in en
    assert "No automatic charge has been attempted yet." in en
    # Off: no tag above the fold.
    page = agent.get(f"/agent/cases/{case_id}?lang=en").get_data(as_text=True)
    assert "status-autopay-" not in page.split('id="case-sections"')[0]


def test_reading_the_autopay_section_is_recorded_as_a_view_of_the_case(app, agent):
    case_id = on_autopay(app, "4242")
    agent.get(f"/agent/cases/{case_id}/sections/autopay")
    agent.get(f"/agent/cases/{case_id}?section=autopay")
    with app.app_context():
        entries = db.session().scalars(
            select(AuditEntry).where(AuditEntry.action == "case.view").order_by(AuditEntry.id)
        )
        assert [(e.actor, e.case_id, e.details["section"]) for e in entries] == [
            (AGENT, case_id, "autopay"),
            (AGENT, case_id, "autopay"),
        ]


def test_a_case_without_autopay_says_so(app, agent):
    built = build_case(app)
    page = agent.get(f"/agent/cases/{built.case_id}/sections/autopay?lang=en")
    assert "The borrower never turned on automatic payments." in page.get_data(as_text=True)


# Finance -----------------------------------------------------------------------------------


@pytest.fixture
def finance(app, client):
    """A signed-in finance staff member."""
    _card_page(app)
    add_staff(app, "mei@haohuan.example", ("finance",))
    assert staff_sign_in(client, "mei@haohuan.example").status_code == 303
    return client


def by_hand(app, amount: int, reference: str) -> int:
    """A payment the borrower made themselves, confirmed now; its id."""
    return pay(app, build_case(app, locale="en", name="Ben Lin"), amount, NOW, reference)


def automatic_payment(app) -> int:
    """The autopay run's charge of a first installment due today; its payment's id."""
    on_autopay(app, "4242", locale="en")
    assert run(app, NOW).charged == 1
    with app.app_context():
        return db.session().scalars(select(Payment.id).where(Payment.automatic.is_(True))).one()


def test_finance_filters_the_automatic_charges_and_marks_each(app, finance):
    auto = automatic_payment(app)
    manual = by_hand(app, 50_000, "pi_by_hand")

    def listed(query: str) -> list[int]:
        page = finance.get(f"/finance/payments?lang=en{query}")
        assert page.status_code == 200
        return [
            int(n)
            for n in re.findall(r'href="/finance/payments/(\d+)"', page.get_data(as_text=True))
        ]

    assert sorted(listed("")) == sorted([auto, manual])
    assert listed("&paid_by=automatic") == [auto]
    assert listed("&paid_by=by_hand") == [manual]
    # A code nobody offered is a translated 400, not a 500.
    assert finance.get("/finance/payments?paid_by=robot&lang=en").status_code == 400
    page = finance.get("/finance/payments?lang=en").get_data(as_text=True)
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    marked = [row for row in rows if '<span class="tag automatic">Automatic</span>' in row]
    assert len(marked) == 1
    assert f"#{auto}<" in marked[0]
    detail = finance.get(f"/finance/payments/{auto}?lang=en").get_data(as_text=True)
    assert '<span class="tag automatic">Automatic</span>' in detail
    csv_text = finance.get("/finance/payments.csv?paid_by=automatic").get_data(as_text=True)
    header, *lines = csv_text.lstrip("\ufeff").strip().splitlines()
    assert header.endswith(",automatic")
    assert len(lines) == 1
    assert lines[0].endswith(",1")
    for lang, words in (("zh_Hant_TW", "自動扣款"), ("zh_Hans_CN", "自动扣款")):
        assert words in finance.get(f"/finance/payments?lang={lang}").get_data(as_text=True)


class StripeCards:
    """Stripe's answer to an off-session charge, without Stripe: succeeded, with the
    PaymentIntent id Stripe would give it."""

    name = "stripe"

    def charge_saved(self, payment, card, key, resume=False) -> Charged:
        return Charged(AttemptOutcome.SUCCEEDED, f"pi_auto_{payment.id}")


def charge_line(id: str, intent: str, amount: int) -> BalanceLine:
    return BalanceLine(
        id,
        "charge",
        amount,
        amount // 30,
        amount - amount // 30,
        "TWD",
        NOW,
        intent,
        f"ch_{id}",
        amount,
        "TWD",
    )


def test_reconciliation_matches_an_automatic_charge_by_its_intent_like_any_other(app, monkeypatch):
    # The card saved at Stripe (the sandbox's setup stands in for the Payment Element).
    case_id = on_autopay(app, "4242", locale="en")
    with app.app_context():
        session = db.session()
        session.scalars(select(SavedCard)).one().gateway = "stripe"
        session.commit()
    monkeypatch.setattr(autopay, "gateway", lambda name=None: StripeCards())
    assert run(app, NOW).charged == 1
    manual = by_hand(app, 50_000, "pi_by_hand")
    with app.app_context():
        session = db.session()
        auto = session.scalars(select(Payment).where(Payment.automatic.is_(True))).one()
        assert (auto.case_id, auto.gateway, auto.status) == (case_id, "stripe", "succeeded")
        intent = auto.gateway_reference
        assert intent == f"pi_auto_{auto.id}"
        reader = FakeStripe(
            [
                charge_line("txn_auto", intent, auto.amount),
                charge_line("txn_hand", "pi_by_hand", 50_000),
            ],
            {},
        )
        window = (NOW - timedelta(hours=1), NOW + timedelta(hours=1))
        done = reconcile_with(session, reader, *window, "test", NOW)
        assert {(i.kind, i.payment_id) for i in done.items} == {
            ("matched", auto.id),
            ("matched", manual),
        }
        assert done.unmatched == 0
        # And Stripe without the automatic charge: ours is flagged as any payment is.
        alone = FakeStripe([charge_line("txn_hand", "pi_by_hand", 50_000)], {})
        missing = reconcile_with(session, alone, *window, "test", NOW)
        assert {(i.kind, i.payment_id) for i in missing.items} == {
            ("matched", manual),
            ("missing_at_stripe", auto.id),
        }


# The plan-kept rate ----------------------------------------------------------------------


def kept_book(app) -> None:
    """Plans accepted in the last quarter: three on autopay (one completed, one running,
    one broken), four without (a consent whose card was never saved, one lapsed, one
    running with a missed payment, one completed), and two never counted (a cancelled
    plan, and a plan accepted before the period)."""
    statuses = {}
    for status in ("completed", "pending", "broken"):
        statuses[on_autopay(app, "4242", locale="en")] = status
    waiting = build_case(app, locale="en", name="Amy Chen")
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, waiting.case_id)
        accept_arrears_plan(session, case, TODAY, NOW)
        assert autopay.enroll(session, case, CONSENT, NOW).status == "pending"
    rows = [
        ("lapsed", [(-20, 1_000, 0, -15)], NOW - timedelta(days=30)),
        ("active", [(-40, 1_000, 1_000, None), (-10, 1_000, 0, -5)], NOW - timedelta(days=45)),
        ("completed", [(-40, 1_000, 1_000, None)], NOW - timedelta(days=60)),
        ("cancelled", [(5, 1_000, 0, None)], NOW - timedelta(days=2)),
        ("completed", [(-200, 1_000, 1_000, None)], NOW - timedelta(days=200)),
    ]
    with app.app_context():
        session = db.session()
        for case_id, status in statuses.items():
            plan_of(session, case_id).status = status
        for status, items, accepted in rows:
            built = build_case(app, locale="en", name="Ben Lin")
            _plan(session, built.case_id, status, "TWD", items).accepted_at = accepted
        session.commit()


def test_the_plan_kept_rate_with_and_without_autopay(app):
    kept_book(app)
    with app.app_context():
        report = plan_keeping(
            db.session(), TODAY - timedelta(days=89), TODAY, ZoneInfo("Asia/Taipei")
        )
    auto, hand = report.autopay, report.by_hand
    assert (auto.counted, auto.completed, auto.on_track, auto.broken) == (3, 1, 1, 1)
    assert (hand.counted, hand.completed, hand.on_track, hand.lapsed, hand.missed) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert (auto.kept, auto.not_kept, hand.kept, hand.not_kept) == (2, 1, 2, 2)
    assert auto.measure().rate == pytest.approx(2 / 3)
    assert hand.measure().rate == pytest.approx(0.5)
    size, low, high = report.difference
    assert size == pytest.approx(2 / 3 - 0.5)
    assert low < size < high
    # A period before any plan: nothing counted, no rate, no difference.
    with app.app_context():
        empty = plan_keeping(db.session(), date(2020, 1, 1), date(2020, 3, 31), ZoneInfo("UTC"))
    assert (empty.autopay.counted, empty.by_hand.counted, empty.difference) == (0, 0, None)
    assert empty.autopay.measure().rate is None


def test_the_plan_kept_page_in_three_languages_and_its_command(app, finance):
    kept_book(app)
    page = finance.get("/finance/plans-kept?lang=en").get_data(as_text=True)
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    cells = [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]
    assert "With autopay 3 1 1 1 0 66.7%" in cells[1]
    assert "Without autopay 4 1 1 1 1 50.0%" in cells[2]
    assert "With autopay minus without: 16.7 percentage points" in page
    for lang, words in (("zh_Hant_TW", "有自動繳款"), ("zh_Hans_CN", "有自动还款")):
        assert words in finance.get(f"/finance/plans-kept?lang={lang}").get_data(as_text=True)
    # A period that ends before it starts: a translated 400.
    bad = finance.get("/finance/plans-kept?since=2026-11-30&until=2026-11-01&lang=en")
    assert bad.status_code == 400
    assert "The end date is before the start date." in bad.get_data(as_text=True)
    result = CliRunner().invoke(
        cli,
        ["payments", "kept-rate", "--until", "2026-11-30", "--json"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert (found["first"], found["last"]) == ("2026-09-02", "2026-11-30")
    assert (found["with_autopay"]["plans"], found["with_autopay"]["kept"]) == (3, 2)
    assert (found["without_autopay"]["plans"], found["without_autopay"]["kept"]) == (4, 2)
    assert found["difference"]["rate"] == pytest.approx(2 / 3 - 0.5)
    text = CliRunner().invoke(
        cli,
        ["payments", "kept-rate", "--until", "2026-11-30"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert "with autopay: 3 plans, 2 kept" in text.output


def test_a_card_that_expired_is_said_to_have_expired(app):
    case_id = on_autopay(app, "4242", locale="en", name="Amy Chen")
    with app.app_context():
        session = db.session()
        card = session.scalars(select(SavedCard)).one()
        card.exp_month, card.exp_year = 10, 2026
        session.commit()
    assert run(app, NOW).cards_off == 1
    email = compose_for(app, case_id, NOTICE_CARD_OFF, Channel.EMAIL).text
    assert "The card ending in 4242 has expired, so automatic payments" in email
    assert "The next payment of your plan, NT$" in email
