"""The templates contact strategies send by themselves (issue 14): each purpose's words on
each channel in each language, SMS that say nothing a lock screen should not show, emails
with the right amount and date, and a message whose fact is gone by sending time
cancelled as stale rather than sent with words that are no longer true."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from negotiation.contact import Channel
from portal.cases.facts import snapshot_of
from portal.contact.gate import VALIDATION_NOTICE
from portal.core import db
from portal.core.i18n import long_date, money
from portal.messaging import service
from portal.messaging.compose import (
    borrower_locale,
    compose,
    compose_dispute_rejected,
    compose_validation_notice,
    sms_parts,
)
from portal.messaging.links import opt_out_url, public_url
from portal.messaging.purposes import (
    DISPUTE_REJECTED,
    STRATEGY_TEMPLATES,
    StaleMessageError,
    StrategyTemplate,
    compose_purpose,
)
from portal.models import (
    AuditEntry,
    Case,
    ContactAttempt,
    Message,
    MessageStatus,
    Plan,
    PlanInstallment,
    Promise,
    ReminderLink,
)
from portal.web.agent.message_views import PURPOSE_NAMES, reason_text

from .factories import NOW, TODAY, build_case
from .test_i18n import SIMPLIFIED_ONLY, TRADITIONAL_ONLY

LINK = "https://pay.haohuan.tw/r/" + "x" * 43
URL = re.compile(r"https?://\S+")
# The borrower's language, the loan's currency, a name in the language's script, and the
# most parts an SMS may take (as tests/portal/test_messaging.py holds the reminder to).
READERS = [
    ("zh_Hant_TW", "TWD", "陳怡君", 3),
    ("zh_Hans_CN", "CNY", "王芳", 3),
    ("en", "TWD", "Amy Chen", 2),
    ("zh_Hant_TW", "HKD", "陳大文", 3),
]
# Words an SMS never says, in any language: owing, being late, collection, the loan, a
# payment, a promise (what is owed is behind the link, after the borrower confirms who
# they are).
SMS_NEVER = re.compile(
    r"\b(overdue|debts?|owed?|owing|arrears|missed|late|collect\w*|pay\w*|loan|promise\w*"
    r"|installment|broken)\b"
    r"|逾期|欠|債|债|催收|未繳|未缴|違約|违约|還款|还款|付款|繳|缴|貸款|贷款|承諾|承诺|金額|金额"
    r"|錯過|错过|終止|终止",
    re.IGNORECASE,
)
# A plan payment, a promise, a courtesy installment: each figure differs from the loan's.
PLAN_PAYMENT = 120_000
PROMISE = 200_000


# Builders: one case in the state each template is about ---------------------------------


def _plan(session, case_id, status, currency, items):
    """A plan of ``case_id`` with ``items`` (due in days from today, amount, paid,
    missed on: days from today or None)."""
    plan = Plan(
        case_id=case_id,
        status=status,
        kind="arrears_plan",
        frequency="monthly",
        currency=currency,
        restructured=sum(amount for _due, amount, _paid, _missed in items),
        total=sum(amount for _due, amount, _paid, _missed in items),
        accepted_at=NOW - timedelta(days=40),
    )
    session.add(plan)
    session.flush()
    for sequence, (due, amount, paid, missed) in enumerate(items, start=1):
        session.add(
            PlanInstallment(
                plan_id=plan.id,
                sequence=sequence,
                due_date=TODAY + timedelta(days=due),
                amount=amount,
                paid=paid,
                missed_on=None if missed is None else TODAY + timedelta(days=missed),
            )
        )
    return plan


def _promise(session, case, status, due, paid=0):
    session.add(
        Promise(
            case_id=case.id,
            made_by="agent@haohuan.example",
            made_at=NOW - timedelta(days=3),
            due_date=TODAY + timedelta(days=due),
            amount=PROMISE,
            currency=case.loan.currency,
            status=status,
            paid=paid,
            settled_on=None if status == "open" else TODAY + timedelta(days=due),
        )
    )


def arrange(app, template, *, locale="zh_Hant_TW", currency="TWD", name="陳怡君"):
    """A case in the state ``template`` speaks of; its id."""
    current = template is StrategyTemplate.COURTESY
    built = build_case(
        app, locale=locale, currency=currency, name=name, days_past_due=0 if current else 47
    )
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        if current:
            # The next installment falls due in 3 days.
            case.loan.installments[4].due_date = TODAY + timedelta(days=3)
        elif template is StrategyTemplate.PLAN_DUE:
            _plan(
                session,
                case.id,
                "active",
                currency,
                [
                    (-25, PLAN_PAYMENT, PLAN_PAYMENT, None),
                    (5, PLAN_PAYMENT, 0, None),
                    (35, PLAN_PAYMENT, 0, None),
                ],
            )
        elif template is StrategyTemplate.PLAN_MISSED:
            _plan(
                session,
                case.id,
                "active",
                currency,
                [
                    (-33, PLAN_PAYMENT, PLAN_PAYMENT, None),
                    (-3, PLAN_PAYMENT, 0, None),
                    (27, PLAN_PAYMENT, 0, None),
                    (57, PLAN_PAYMENT, 0, None),
                ],
            )
        elif template is StrategyTemplate.PLAN_BROKEN:
            _plan(
                session,
                case.id,
                "broken",
                currency,
                [
                    (-40, PLAN_PAYMENT, 0, -35),
                    (-10, PLAN_PAYMENT, 0, -5),
                    (20, PLAN_PAYMENT, 0, None),
                ],
            )
        elif template is StrategyTemplate.PROMISE_DUE:
            _promise(session, case, "open", 1)
        elif template is StrategyTemplate.PROMISE_BROKEN:
            _promise(session, case, "broken", -2)
        session.commit()
    return built.case_id


def compose_for(
    app, case_id, template, channel, moment=NOW, *, public_url="https://pay.haohuan.tw"
):
    """The words of a message of purpose ``template`` to the case at ``moment``."""
    app.config["PUBLIC_URL"] = public_url
    # The agent's console is in English; the words are in the borrower's language.
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        session = db.session()
        case = session.get(Case, case_id)
        return compose_purpose(
            session,
            case,
            str(template),
            channel,
            moment,
            link=LINK,
            opt_out=opt_out_url(case.loan.borrower_id, channel),
        )


def expected(app, case_id, template):
    """The figures and dates the email must state, in the borrower's language."""
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, case_id)
        currency = case.loan.currency
        arrears = snapshot_of(session, case, TODAY).arrears.total
        with force_locale(borrower_locale(case)):

            def both(amount, days):
                return [money(amount, currency), long_date(TODAY + timedelta(days=days))]

            return {
                StrategyTemplate.COURTESY: both(550_000, 3),
                StrategyTemplate.PLAN_DUE: both(PLAN_PAYMENT, 5),
                # What was missed, and by when to pay it to keep the plan (5 grace days).
                StrategyTemplate.PLAN_MISSED: [
                    *both(PLAN_PAYMENT, -3),
                    long_date(TODAY + timedelta(days=2)),
                ],
                StrategyTemplate.PLAN_BROKEN: [
                    money(arrears, currency),
                    long_date(TODAY - timedelta(days=5)),
                ],
                StrategyTemplate.PROMISE_DUE: both(PROMISE, 1),
                StrategyTemplate.PROMISE_BROKEN: [*both(PROMISE, -2), money(arrears, currency)],
                StrategyTemplate.FOLLOWUP: [money(arrears, currency)],
                StrategyTemplate.REMINDER_PLAN: [money(arrears, currency)],
            }[template]


def figures(app, case_id):
    """Every amount an SMS of the case must not show, as digits (5,500 and 5500)."""
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, case_id)
        arrears = snapshot_of(session, case, TODAY).arrears.total
    shown = set()
    for amount in (arrears, 550_000, PLAN_PAYMENT, PROMISE):
        whole = amount // 100
        shown |= {f"{whole:,}", str(whole)}
    return shown


# Every template, channel and language ----------------------------------------------------


def test_the_templates_fit_the_purpose_column_and_the_console_names_them():
    assert {t.value for t in StrategyTemplate} == STRATEGY_TEMPLATES
    assert len(STRATEGY_TEMPLATES) == 8
    assert all(len(t) <= Message.__table__.c.purpose.type.length for t in STRATEGY_TEMPLATES)
    assert STRATEGY_TEMPLATES.isdisjoint({"reminder", "offer", "dispute", VALIDATION_NOTICE})
    assert all(t in PURPOSE_NAMES for t in StrategyTemplate)


@pytest.mark.parametrize(("locale", "currency", "name", "most_parts"), READERS)
def test_every_template_speaks_the_borrowers_language_and_its_sms_stays_discreet(
    app, locale, currency, name, most_parts
):
    for template in StrategyTemplate:
        case_id = arrange(app, template, locale=locale, currency=currency, name=name)
        sms = compose_for(app, case_id, template, Channel.SMS)
        email = compose_for(app, case_id, template, Channel.EMAIL)
        check_words(sms, email, locale, currency, most_parts, expected(app, case_id, template))
        words = URL.sub("", sms.text)
        assert not any(figure in words for figure in figures(app, case_id)), (template, words)


def check_words(sms, email, locale: str, currency: str, most_parts: int, facts: list[str]):
    """What every message a purpose writes keeps to: the borrower's language (Hong
    Kong's for HKD); an SMS of the lender's name, a line with no figure, date or word a
    lock screen should not show, the link on its own line and how to stop SMS, in at
    most ``most_parts`` parts; an email stating ``facts``, with the link, the opt-out
    and a subject as discreet as an SMS; each script keeping to itself."""
    wanted_locale = "zh_Hant_HK" if currency == "HKD" and locale != "en" else locale
    assert (sms.locale, email.locale) == (wanted_locale, wanted_locale)
    lines = sms.text.split("\n")
    assert sms.subject is None
    assert LINK in lines, sms.text
    assert len(lines) == 4, sms.text
    assert "/opt-out/" in lines[-1]
    words = URL.sub("", sms.text)
    assert not SMS_NEVER.search(words), sms.text
    assert not re.search(r"\d", words), words  # no figure, no date either
    assert sms_parts(sms.text) <= most_parts, (sms_parts(sms.text), sms.text)
    assert LINK in email.text.split("\n")
    assert "/opt-out/" in email.text
    for fact in facts:
        assert fact in email.text, (fact, email.text)
    assert not SMS_NEVER.search(email.subject or ""), email.subject
    if locale != "en":
        wrong_script = TRADITIONAL_ONLY if locale == "zh_Hans_CN" else SIMPLIFIED_ONLY
        found = set(sms.text + email.text + (email.subject or "")) & set(wrong_script)
        assert not found, sorted(found)
    else:
        assert not re.search(r"[\u4e00-\u9fff]", words), "a Chinese character in an English SMS"


def test_the_emails_say_the_amounts_and_dates_in_english(app):
    for template, facts in {
        StrategyTemplate.COURTESY: [
            "next installment of your loan",
            "NT$5,500",
            "December 3, 2026",
        ],
        StrategyTemplate.PLAN_DUE: ["NT$1,200, is due on December 5, 2026", "Collection is paused"],
        StrategyTemplate.PLAN_MISSED: [
            "- November 27, 2026: NT$1,200",
            "To keep your plan, pay NT$1,200 by December 2, 2026.",
        ],
        StrategyTemplate.PLAN_BROKEN: [
            "ended on November 25, 2026 because its payments were missed",
            "has NT$11,450 overdue",
            "What happens next if nothing changes:",
        ],
        StrategyTemplate.PROMISE_DUE: ["NT$2,000 is to be paid", "by December 1, 2026"],
        StrategyTemplate.PROMISE_BROKEN: [
            "pay NT$2,000 by November 28, 2026, and we have not received it",
            "has NT$11,450 overdue",
        ],
        StrategyTemplate.FOLLOWUP: ["has NT$11,450 overdue", "/help"],
        StrategyTemplate.REMINDER_PLAN: ["has NT$11,450 overdue"],
    }.items():
        case_id = arrange(app, template, locale="en", name="Amy Chen")
        email = compose_for(app, case_id, template, Channel.EMAIL)
        for fact in facts:
            assert fact in email.text, (template, fact, email.text)
        assert email.text.startswith("Hello Amy Chen,\n")


def test_a_courtesy_reminder_has_no_collection_words(app):
    case_id = arrange(app, StrategyTemplate.COURTESY, locale="en", name="Amy Chen")
    for channel in (Channel.SMS, Channel.EMAIL):
        words = compose_for(app, case_id, StrategyTemplate.COURTESY, channel)
        text = URL.sub("", words.text + (words.subject or "")).lower()
        for word in ("overdue", "collection", "debt", "arrears", "missed", "happens next"):
            assert word not in text, (channel, word)
    for locale, currency, name in (("zh_Hant_TW", "TWD", "陳怡君"), ("zh_Hans_CN", "CNY", "王芳")):
        case_id = arrange(
            app, StrategyTemplate.COURTESY, locale=locale, currency=currency, name=name
        )
        email = compose_for(app, case_id, StrategyTemplate.COURTESY, Channel.EMAIL)
        assert not re.search("逾期|催收|欠款", email.text), email.text


def test_the_plan_first_variant_leads_with_the_plans_before_the_amounts(app):
    case_id = arrange(app, StrategyTemplate.REMINDER_PLAN, locale="en", name="Amy Chen")
    email = compose_for(app, case_id, StrategyTemplate.REMINDER_PLAN, Channel.EMAIL).text
    assert email.index("You can choose a plan you can afford") < email.index("NT$11,450")
    sms = compose_for(app, case_id, StrategyTemplate.REMINDER_PLAN, Channel.SMS).text
    with app.test_request_context("/"):
        ordinary = compose(
            db.session(), db.session().get(Case, case_id), Channel.SMS, NOW, link=LINK, opt_out="o"
        ).text
    assert sms.split("\n")[0] != ordinary.split("\n")[0]


def test_a_missed_plan_payment_says_when_the_plan_is_at_risk(app):
    case_id = arrange(app, StrategyTemplate.PLAN_MISSED, locale="en", name="Amy Chen")
    first = compose_for(app, case_id, StrategyTemplate.PLAN_MISSED, Channel.EMAIL).text
    assert "at risk" not in first  # one miss of the two the policy allows
    with app.app_context():
        session = db.session()
        plan = session.scalars(select(Plan).where(Plan.case_id == case_id)).one()
        # The first payment was missed (counted) and is still unpaid: one more miss
        # breaks the plan.
        plan.installments[0].paid = 0
        plan.installments[0].missed_on = TODAY - timedelta(days=28)
        session.commit()
    second = compose_for(app, case_id, StrategyTemplate.PLAN_MISSED, Channel.EMAIL).text
    assert "- November 27, 2026: NT$1,200" in second
    assert "- October 28, 2026: NT$1,200" in second
    assert "To keep your plan, pay NT$2,400 by December 2, 2026." in second
    assert (
        "Your plan is at risk: if this is not paid by December 2, 2026, the plan ends and "
        "collection resumes." in second
    )


def test_a_pending_plans_unpaid_first_payment_says_the_plan_does_not_start(app):
    built = build_case(app, locale="en", name="Amy Chen")
    with app.app_context():
        session = db.session()
        _plan(
            session,
            built.case_id,
            "pending",
            "TWD",
            [(-2, PLAN_PAYMENT, 0, None), (28, PLAN_PAYMENT, 0, None)],
        )
        session.commit()
    email = compose_for(app, built.case_id, StrategyTemplate.PLAN_MISSED, Channel.EMAIL).text
    assert "To keep your plan, pay NT$1,200 by December 3, 2026." in email
    assert "if it is not paid by December 3, 2026, the plan does not start" in email


def test_a_partly_paid_promise_says_what_is_left(app):
    built = build_case(app, locale="en", name="Amy Chen")
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        _promise(session, case, "partly_kept", -2, paid=50_000)
        session.commit()
    email = compose_for(app, built.case_id, StrategyTemplate.PROMISE_BROKEN, Channel.EMAIL).text
    assert (
        "You told us you would pay NT$2,000 by November 28, 2026; we received NT$500 of it."
        in email
    )


# Stale facts ---------------------------------------------------------------------------


def _pay_installment(session, case, index):
    item = case.loan.installments[index]
    item.principal_paid, item.interest_paid = item.principal_due, item.interest_due


def _paid_plan_payment(session, case):
    plan = session.scalars(select(Plan).where(Plan.case_id == case.id)).one()
    plan.installments[1].paid = plan.installments[1].amount


def _new_live_plan(session, case):
    _plan(session, case.id, "pending", case.loan.currency, [(10, PLAN_PAYMENT, 0, None)])


def _promise_kept(session, case):
    session.scalars(select(Promise).where(Promise.case_id == case.id)).one().status = "kept"


def _new_promise(session, case):
    session.add(
        Promise(
            case_id=case.id,
            made_by="agent@haohuan.example",
            made_at=NOW - timedelta(hours=1),
            due_date=TODAY + timedelta(days=5),
            amount=PROMISE,
            currency=case.loan.currency,
            status="open",
        )
    )


def _everything_paid(session, case):
    for index, item in enumerate(case.loan.installments):
        if item.due_date < TODAY:
            _pay_installment(session, case, index)
    for charge in case.loan.charges:
        charge.paid = charge.amount


# What happens between planning and sending that takes each template's fact away.
GONE = {
    StrategyTemplate.COURTESY: (lambda s, c: _pay_installment(s, c, 4), "nothing_due_soon"),
    StrategyTemplate.PLAN_DUE: (_paid_plan_payment, "plan_payment_not_soon"),
    StrategyTemplate.PLAN_MISSED: (_paid_plan_payment, "plan_payments_paid"),
    StrategyTemplate.PLAN_BROKEN: (_new_live_plan, "no_broken_plan"),
    StrategyTemplate.PROMISE_DUE: (_promise_kept, "no_open_promise"),
    StrategyTemplate.PROMISE_BROKEN: (_new_promise, "no_broken_promise"),
    StrategyTemplate.FOLLOWUP: (_new_live_plan, "plan_chosen"),
    StrategyTemplate.REMINDER_PLAN: (_everything_paid, "nothing_overdue"),
}


@pytest.mark.parametrize("template", list(StrategyTemplate))
def test_a_template_whose_fact_is_gone_writes_no_words(app, template):
    case_id = arrange(app, template)
    change, fact = GONE[template]
    with app.app_context():
        session = db.session()
        change(session, session.get(Case, case_id))
        session.commit()
    for channel in (Channel.SMS, Channel.EMAIL):
        with pytest.raises(StaleMessageError) as raised:
            compose_for(app, case_id, template, channel)
        assert (raised.value.purpose, raised.value.fact) == (template.value, fact)


def test_a_courtesy_reminder_is_stale_once_the_loan_is_overdue(app):
    built = build_case(app, days_past_due=3)
    with pytest.raises(StaleMessageError) as raised:
        compose_for(app, built.case_id, StrategyTemplate.COURTESY, Channel.EMAIL)
    assert raised.value.fact == "not_current"


def test_a_promise_paid_in_full_is_stale_before_its_date(app):
    case_id = arrange(app, StrategyTemplate.PROMISE_DUE)
    with app.app_context():
        session = db.session()
        session.scalars(
            select(Promise).where(Promise.case_id == case_id)
        ).one().status = "partly_kept"
        session.commit()
    with pytest.raises(StaleMessageError):
        compose_for(app, case_id, StrategyTemplate.PROMISE_DUE, Channel.SMS)


# The sender ----------------------------------------------------------------------------


def _schedule(app, case_id, purpose, channel):
    with app.app_context():
        session = db.session()
        case = session.get(Case, case_id)
        borrower = case.loan.borrower
        borrower.email = "amy@example.com"
        message = Message(
            case_id=case_id,
            borrower_id=borrower.id,
            channel=channel.value,
            purpose=purpose,
            address=borrower.phone if channel is Channel.SMS else borrower.email,
            locale=borrower.locale,
            status=MessageStatus.SCHEDULED,
            send_at=NOW - timedelta(minutes=1),
            created_by="system",
            created_at=NOW - timedelta(days=2),
        )
        session.add(message)
        session.commit()
        return message.id


def links_of(app, case_id):
    with app.app_context():
        query = select(ReminderLink.id).where(ReminderLink.case_id == case_id)
        return list(db.session().scalars(query))


def test_the_scheduled_sender_cancels_a_stale_message_and_sends_a_current_one(app):
    app.config["PUBLIC_URL"] = "https://pay.haohuan.tw"
    stale_case = arrange(app, StrategyTemplate.PROMISE_DUE, locale="en", name="Amy Chen")
    fresh_case = arrange(app, StrategyTemplate.PLAN_DUE, locale="en", name="Bo Lin")
    with app.app_context():
        session = db.session()
        _promise_kept(session, session.get(Case, stale_case))
        session.commit()
    stale_id = _schedule(app, stale_case, StrategyTemplate.PROMISE_DUE, Channel.EMAIL)
    fresh_id = _schedule(app, fresh_case, StrategyTemplate.PLAN_DUE, Channel.EMAIL)
    links = links_of(app, stale_case)
    with app.test_request_context("/"):
        done = service.dispatch_due(db.session(), NOW)
    assert (done.sent, done.cancelled, done.failed) == (1, 1, 0)
    with app.app_context():
        session = db.session()
        stale = session.get(Message, stale_id)
        fresh = session.get(Message, fresh_id)
        assert (stale.status, stale.error, stale.body, stale.link_id) == (
            "cancelled",
            "stale",
            None,
            None,
        )
        # Nothing of the stale message was kept: no link issued, no contact counted.
        assert links_of(app, stale_case) == links
        assert not session.scalars(
            select(ContactAttempt).where(ContactAttempt.case_id == stale_case)
        ).all()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.cancel")
        ).one()
        assert entry.details["reasons"] == ["stale"]
        assert (entry.details["purpose"], entry.details["fact"]) == (
            "promise_due",
            "no_open_promise",
        )
        assert fresh.status == "sent"
        assert "NT$1,200, is due on December 5, 2026" in fresh.body
        assert fresh.subject.endswith(": a reminder about your account")
    # The console tells an agent why it was not sent, in the agent's language.
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert reason_text("stale").startswith("What the message was about had changed")
    with app.test_request_context("/"), force_locale("zh_Hant_TW"):
        assert reason_text("stale").startswith("到了發送時間")


def test_a_stale_message_sent_by_hand_is_refused_and_nothing_is_kept(app):
    case_id = arrange(app, StrategyTemplate.FOLLOWUP, locale="en", name="Amy Chen")
    with app.app_context():
        session = db.session()
        _new_live_plan(session, session.get(Case, case_id))
        session.commit()
    with app.test_request_context("/"):
        session = db.session()
        result = service.send_message(
            session,
            session.get(Case, case_id),
            Channel.SMS,
            actor="system",
            moment=NOW,
            purpose=StrategyTemplate.FOLLOWUP,
        )
    assert result.outcome is service.Outcome.REFUSED
    assert result.problem is service.Problem.STALE
    with app.app_context():
        session = db.session()
        assert session.scalars(select(Message)).all() == []
        assert not session.scalars(select(ContactAttempt)).all()
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.refused")
        ).one()
        assert refused.details["reasons"] == ["stale"]


# The ordinary purposes keep their words ------------------------------------------------


def test_compose_purpose_gives_the_ordinary_purposes_the_words_they_had(app):
    app.config["PUBLIC_URL"] = "https://pay.haohuan.tw"
    built = build_case(app, locale="en", name="Amy Chen")
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        for channel in (Channel.SMS, Channel.EMAIL):
            kept = {"link": LINK, "opt_out": "https://pay.haohuan.tw/opt-out/t"}
            assert compose_purpose(session, case, "reminder", channel, NOW, **kept) == compose(
                session, case, channel, NOW, **kept
            )
            assert compose_purpose(
                session, case, DISPUTE_REJECTED, channel, NOW, **kept
            ) == compose_dispute_rejected(case, channel, **kept)
        notice = compose_purpose(session, case, VALIDATION_NOTICE, Channel.EMAIL, NOW, **kept)
        help_url = public_url("borrower.help_page")
        assert help_url in notice.text
        assert notice == compose_validation_notice(session, case, NOW, help_url=help_url, **kept)
