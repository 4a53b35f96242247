"""The scheduled sender in batches (``portal.messaging.service.dispatch_due``): the same
outcomes as the one-by-one sender it replaced, the caps within a batch, the providers'
rate and connection limits, at most once across a crash, and several senders at once
on PostgreSQL never sending one message twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from negotiation.contact import Channel
from portal.cases.facts import view_case, views_of
from portal.cli import cli
from portal.contact.gate import record_attempt
from portal.core import db
from portal.messaging import delivery, service
from portal.messaging.links import hide_link_tokens
from portal.messaging.providers import OutboxEmail, Providers, SendError, SendFailure
from portal.models import AuditEntry, Case, ContactAttempt, Message, Plan, PlanInstallment

from .factories import NOW, TODAY, add_plan, build_case

DUE = NOW - timedelta(minutes=1)


def schedule(app, built, channel, *, purpose="reminder"):
    """A message to the case's borrower on ``channel``, due a minute ago; its id."""
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        borrower = case.loan.borrower
        message = Message(
            case_id=case.id,
            borrower_id=borrower.id,
            channel=channel,
            purpose=purpose,
            address=borrower.phone if channel == "sms" else borrower.email,
            locale=borrower.locale,
            status="scheduled",
            send_at=DUE,
            created_by="strategy",
            created_at=NOW - timedelta(days=1),
        )
        session.add(message)
        session.commit()
        return message.id


def messages(app):
    with app.app_context():
        return list(db.session().scalars(select(Message).order_by(Message.id)))


def situations(app, tag):
    """Borrowers in each situation the sender judges; the ids of their messages in the
    order the sender takes them."""
    ids = []
    plain = build_case(app, name=f"陳一{tag}")
    ids.append(schedule(app, plain, "sms"))
    # Three due and two a day allowed (the default policy): two go, one waits.
    busy = build_case(app, name=f"陳二{tag}")
    set_email(app, busy, f"busy{tag}@example.com")
    ids += [schedule(app, busy, "sms"), schedule(app, busy, "sms"), schedule(app, busy, "email")]
    held = build_case(app, name=f"陳三{tag}", hold="hardship")
    ids.append(schedule(app, held, "sms"))
    opted = build_case(app, name=f"陳四{tag}")
    ids.append(schedule(app, opted, "sms"))
    with app.test_request_context("/"):
        service.opt_out(db.session(), opted.borrower_id, Channel.SMS, NOW, source="link")
    # Cancelled by the opt-out; queued again by the lender's choice, it must not go.
    ids.append(schedule(app, opted, "sms"))
    nowhere = build_case(app, name=f"陳五{tag}")
    ids.append(schedule(app, nowhere, "email"))
    used = build_case(app, name=f"陳六{tag}")
    with app.app_context():
        session = db.session()
        case = session.get(Case, used.case_id)
        for hours in (1, 2):
            record_attempt(session, case, Channel.SMS, NOW - timedelta(hours=hours), "a@x")
        session.commit()
    ids.append(schedule(app, used, "sms"))
    english = build_case(app, name="Amy Chen", locale="en")
    set_email(app, english, f"amy{tag}@example.com")
    ids.append(schedule(app, english, "email"))
    simplified = build_case(app, name=f"王{tag}", locale="zh_Hans_CN", currency="CNY")
    set_email(app, simplified, f"wang{tag}@example.com")
    add_plan(app, simplified.case_id, "active", currency="CNY")
    ids.append(schedule(app, simplified, "email"))
    # A strategy's templates: a courtesy reminder of an installment due today, the
    # reminder in other words by email, and a courtesy reminder gone stale (overdue).
    current = build_case(app, name=f"陳七{tag}", days_past_due=0)
    ids.append(schedule(app, current, "sms", purpose="courtesy"))
    other_words = build_case(app, name=f"陳八{tag}")
    set_email(app, other_words, f"eight{tag}@example.com")
    ids.append(schedule(app, other_words, "email", purpose="reminder_plan"))
    stale = build_case(app, name=f"陳九{tag}")
    ids.append(schedule(app, stale, "sms", purpose="courtesy"))
    return ids


def set_email(app, built, address):
    with app.app_context():
        session = db.session()
        session.get(Case, built.case_id).loan.borrower.email = address
        session.commit()


def outcome(message, loan_number):
    body = hide_link_tokens(message.body or "").replace(loan_number, "LN")
    return (
        message.channel,
        message.status,
        message.error,
        message.send_at.replace(tzinfo=None),
        message.subject and message.subject.replace(loan_number, "LN"),
        body,
    )


def test_the_batched_sender_does_what_the_one_by_one_sender_did(app):
    # The same borrowers twice: the first set sent message by message as the sender
    # used to, the second in batches; every message must end the same, word for word.
    before = situations(app, "")
    after = situations(app, "")
    with app.test_request_context("/"):
        session = db.session()
        for message_id in sorted(before):
            service._dispatch_one(session, message_id, NOW)
        done = service.dispatch_due(session, NOW)
    found = {m.id: m for m in messages(app)}
    with app.app_context():
        numbers = {case.id: case.loan.number for case in db.session().scalars(select(Case)).all()}
    old = [outcome(found[i], numbers[found[i].case_id]) for i in before]
    new = [outcome(found[i], numbers[found[i].case_id]) for i in after]
    assert new == old
    assert [status for _, status, *_ in new].count("sent") == 7
    assert (done.sent, done.rescheduled, done.cancelled) == (7, 2, 4)
    assert [error for _, _, error, *_ in new][-1] == "stale"
    # The words are in each borrower's language, the email with its amounts.
    english = found[after[-5]]
    assert "Your loan LN-T-" in english.body
    assert "overdue" in english.body
    # An active plan pauses collection, which the Simplified Chinese email says.
    assert "只要您按还款方案付款，催收就会暂停。" in found[after[-4]].body
    with app.app_context():
        session = db.session()
        sends = session.scalar(select(func.count()).where(AuditEntry.action == "message.send"))
        cancels = session.scalar(select(func.count()).where(AuditEntry.action == "message.cancel"))
    assert (sends, cancels) == (14, 8)


def test_three_due_in_one_batch_with_two_a_day_send_two_and_move_one(app):
    built = build_case(app)
    set_email(app, built, "chen@example.com")
    ids = [schedule(app, built, channel) for channel in ("sms", "email", "sms")]
    with app.test_request_context("/"):
        done = service.dispatch_due(db.session(), NOW)
    assert (done.sent, done.rescheduled, done.cancelled, done.failed) == (2, 1, 0, 0)
    found = {m.id: m for m in messages(app)}
    moved = [found[i] for i in ids if found[i].status == "scheduled"]
    assert len(moved) == 1
    # To the borrower's next morning: 07:00 in Taipei.
    assert moved[0].send_at.replace(tzinfo=None) == (NOW + timedelta(hours=21)).replace(tzinfo=None)
    with app.app_context():
        attempts = db.session().scalar(
            select(func.count()).where(ContactAttempt.case_id == built.case_id)
        )
    assert attempts == 2


def test_views_read_for_many_cases_are_those_of_view_case(app):
    plain = build_case(app)
    arranged = build_case(app, name="陳二")
    add_plan(app, arranged.case_id, "active")
    broken = build_case(app, name="陳三")
    add_plan(app, broken.case_id, "broken")
    with app.app_context():
        session = db.session()
        plan = session.scalars(select(Plan).where(Plan.case_id == broken.case_id)).one()
        for sequence in (1, 2):
            session.add(
                PlanInstallment(
                    plan_id=plan.id,
                    sequence=sequence,
                    due_date=TODAY - timedelta(days=40 - 30 * sequence),
                    amount=50,
                    missed_on=TODAY - timedelta(days=20) if sequence == 1 else None,
                )
            )
        session.commit()
    with app.test_request_context("/"):
        session = db.session()
        cases = [session.get(Case, b.case_id) for b in (plain, arranged, broken)]
        many = views_of(session, [(case, TODAY) for case in cases])
        for case in cases:
            one = view_case(session, case, TODAY)
            assert many[case.id].snapshot == one.snapshot
            assert many[case.id].timeline == one.timeline
            assert many[case.id].stage == one.stage
            assert many[case.id].plan is one.plan
            assert many[case.id].ended == one.ended
        assert many[broken.case_id].ended is not None


class Recording:
    """An SMS provider that records when each send starts and how many run at once."""

    name = "recording"

    def __init__(self, pause=0.0, refuse=(), crash=()):
        self.started: list[float] = []
        self.sent: list[str] = []
        self.pause = pause
        self.refuse = set(refuse)
        self.crash = set(crash)
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def send(self, to, body, reference):
        with self.lock:
            self.started.append(time.monotonic())
            self.sent.append(reference)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.pause)
            if reference in self.crash:
                raise RuntimeError("the process died here")
            if reference in self.refuse:
                raise SendError(SendFailure.SMS_REFUSED, "HTTP 400")
            return f"rec-{reference}"
        finally:
            with self.lock:
                self.running -= 1


def use(app, sms):
    app.extensions["haohuan.messaging"] = Providers(sms=sms, email=OutboxEmail())


def many_due(app, count):
    ids = []
    for number in range(count):
        ids.append(schedule(app, build_case(app, name=f"陳{number}"), "sms"))
    return ids


def test_the_rate_limit_spaces_the_starts_of_the_sends(app):
    ids = many_due(app, 8)
    provider = Recording()
    use(app, provider)
    app.config.update(SMS_RATE="25", SMS_CONNECTIONS="4")
    before = time.monotonic()
    with app.test_request_context("/"):
        done = service.dispatch_due(db.session(), NOW)
    assert done.sent == 8
    assert sorted(provider.sent) == sorted(str(i) for i in ids)
    # 25 a second: the n-th send starts no sooner than n slots of 40 ms after the
    # first could (a thread woken late only starts later, so this holds on a busy
    # machine, where the gaps between two late starts may not).
    for number, started in enumerate(sorted(provider.started)):
        assert started >= before + number * 0.040 - 0.002, (number, started - before)


def test_no_more_sends_run_at_once_than_the_connections_allowed(app):
    many_due(app, 9)
    # Long enough that three sends overlap however slowly the threads are started.
    provider = Recording(pause=0.25)
    use(app, provider)
    app.config.update(SMS_RATE="0", SMS_CONNECTIONS="3")
    with app.test_request_context("/"):
        done = service.dispatch_due(db.session(), NOW)
    assert done.sent == 9
    assert provider.most == 3


def test_the_rate_limiter_hands_out_evenly_spaced_slots():
    moments = iter([0.0, 0.0, 0.0, 1.0])
    limiter = delivery.RateLimiter(10, clock=lambda: next(moments))
    slept = []
    original = time.sleep
    try:
        delivery.time.sleep = slept.append  # type: ignore[assignment]
        for _ in range(4):
            limiter.wait()
    finally:
        delivery.time.sleep = original
    assert slept == pytest.approx([0.1, 0.2])  # the 4th comes after its slot (0.3 s)


def test_a_certain_refusal_fails_the_message_and_gives_its_attempt_back(app):
    ids = many_due(app, 3)
    use(app, Recording(refuse={str(ids[1])}))
    with app.test_request_context("/"):
        done = service.dispatch_due(db.session(), NOW)
    assert (done.sent, done.failed) == (2, 1)
    found = {m.id: m for m in messages(app)}
    assert (found[ids[1]].status, found[ids[1]].error) == ("failed", "sms_refused: HTTP 400")
    # A real provider's copy keeps no link.
    assert "/r/[link]\n" in found[ids[0]].body
    with app.app_context():
        logged = set(db.session().scalars(select(ContactAttempt.message_id)))
    assert logged == {ids[0], ids[2]}


def test_a_crash_after_the_sending_commit_never_sends_a_message_twice(app, monkeypatch):
    ids = many_due(app, 3)
    provider = Recording()
    use(app, provider)

    def die(self, parcels):
        raise SystemExit("killed between the commit and the provider")

    monkeypatch.setattr(delivery.Couriers, "deliver", die)
    with app.test_request_context("/"), pytest.raises(SystemExit):
        service.dispatch_due(db.session(), NOW)
    assert {m.status for m in messages(app)} == {"sending"}
    monkeypatch.undo()
    use(app, provider)
    # The next run, soon after: nothing is due, and what is being sent is left alone.
    with app.test_request_context("/"):
        soon = service.dispatch_due(db.session(), NOW + timedelta(minutes=1))
    assert (soon.sent, soon.interrupted) == (0, 0)
    # Later: the interrupted sends are failed, outcome unknown, and never sent.
    with app.test_request_context("/"):
        later = service.dispatch_due(db.session(), NOW + timedelta(minutes=11))
    assert (later.sent, later.interrupted) == (0, 3)
    assert provider.sent == []
    assert {(m.status, m.error) for m in messages(app)} == {("failed", "interrupted")}
    with app.app_context():
        # The attempts stay: the messages may have gone.
        assert db.session().scalar(select(func.count(ContactAttempt.id))) == len(ids)


def test_a_provider_crashing_mid_batch_keeps_what_was_sent_and_leaves_the_rest_sending(app):
    ids = many_due(app, 3)
    provider = Recording(crash={str(ids[1])})
    use(app, provider)
    with app.test_request_context("/"), pytest.raises(RuntimeError):
        service.dispatch_due(db.session(), NOW)
    found = {m.id: m.status for m in messages(app)}
    assert found == {ids[0]: "sent", ids[1]: "sending", ids[2]: "sent"}
    with app.test_request_context("/"):
        later = service.dispatch_due(db.session(), NOW + timedelta(minutes=11))
    assert later.interrupted == 1
    assert provider.sent.count(str(ids[1])) == 1


@pytest.mark.postgres_only
def test_two_senders_at_once_never_send_one_message_twice(app, backend, monkeypatch):
    ids = many_due(app, 30)
    # A borrower with two messages due: one goes per batch, the next judged after it.
    twice = build_case(app, name="陳雙")
    ids += [schedule(app, twice, "sms"), schedule(app, twice, "sms")]
    provider = Recording(pause=0.002)
    use(app, provider)
    monkeypatch.setattr(service, "DISPATCH_CHUNK", 4)
    app.config.update(SMS_RATE="0", SMS_CONNECTIONS="2")
    results = []
    errors = []

    def sender():
        try:
            with app.test_request_context("/"):
                results.append(service.dispatch_due(db.session(), NOW, housekeeping=False))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(provider.sent) == sorted(str(i) for i in ids)  # each once
    assert sum(r.sent for r in results) == len(ids)
    assert {m.status for m in messages(app)} == {"sent"}
    with app.app_context():
        per_message = db.session().execute(
            select(ContactAttempt.message_id, func.count()).group_by(ContactAttempt.message_id)
        )
        assert {count for _, count in per_message} == {1}


@pytest.mark.postgres_only
def test_send_due_with_two_worker_processes_sends_each_message_once(app, backend, monkeypatch):
    ids = many_due(app, 12)
    # The worker processes build their app from the environment, as cron runs them.
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("HAOHUAN_NOW", NOW.isoformat())
    monkeypatch.setenv("HAOHUAN_SECRET_KEY", app.config["SECRET_KEY"])
    result = CliRunner().invoke(
        cli, ["messages", "send-due", "--workers", "2"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("12 sent, 0 failed, 0 canceled")
    assert {m.status for m in messages(app)} == {"sent"}
    with app.app_context():
        logged = list(db.session().scalars(select(ContactAttempt.message_id)))
    assert sorted(logged) == sorted(ids)


def test_send_due_refuses_worker_processes_on_sqlite(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite's refusal")
    result = CliRunner().invoke(
        cli, ["messages", "send-due", "--workers", "2"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 2
    assert "--workers needs PostgreSQL" in result.output


@pytest.mark.postgres_only
def test_a_case_another_transaction_holds_waits_for_a_later_run_without_blocking(app, backend):
    # A write-off locks its case, then cancels its messages: the sender, holding those
    # messages, must not wait for the case (a cycle), but leave it for a later run.
    held, free = build_case(app), build_case(app, name="陳二")
    waiting, going = schedule(app, held, "sms"), schedule(app, free, "sms")
    with app.extensions["haohuan.sessions"]() as other:
        other.execute(select(Case.id).where(Case.id == held.case_id).with_for_update())
        with app.test_request_context("/"):
            first = service.dispatch_due(db.session(), NOW)
        assert first.sent == 1
        found = {m.id: m.status for m in messages(app)}
        assert found == {waiting: "scheduled", going: "sent"}
        with app.test_request_context("/"):
            # Everything due is held: the run ends rather than trying again and again.
            again = service.dispatch_due(db.session(), NOW)
        assert again.sent == 0
        other.rollback()
    with app.test_request_context("/"):
        later = service.dispatch_due(db.session(), NOW)
    assert later.sent == 1
    assert {m.status for m in messages(app)} == {"sent"}
